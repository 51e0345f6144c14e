// tests/model/model_core.hpp — what the reference models share: the known-defect flags (one
// place, each naming its defect), the sources of choices (seeded PRNG, fuzzer bytes), the
// operation record, the runner that prints a seed and a shrunk sequence, and the shrinker.
//
// Replay a failure: SWITCHYARD_MODEL_SEED=<seed> build/release/tests/model_test "<test name>"
// Longer runs: SWITCHYARD_MODEL_SEQUENCES=<n> sets the sequence count of each model test case,
// SWITCHYARD_MODEL_OPS the operations per sequence (all knobs: tests/broker/model_test.cpp).
#pragma once

#include <switchyard/switchyard.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace switchyard::model {

using Ms = std::chrono::milliseconds;

/// The segment size of the durable scenarios' logs: a 64 MiB default segment costs ~0.3 s per
/// broker open; small ones let a run hold many more sequences and restarts (and roll segments).
inline constexpr std::uint64_t kSegmentBytes = 64 << 10;

/// An op argument that stands for Duration::max().
inline constexpr std::uint32_t kForever = 0xFFFF'FFFFu;

/// A durable level for a durable scenario.
inline Durability durable_level(std::uint32_t choice) {
  return choice % 4 == 0   ? Durability::always
         : choice % 4 == 1 ? Durability::batch
                           : Durability::none;
}

/// A source of choices: a seeded PRNG, or a fuzzer's bytes (zeros once they run out).
class Source {
 public:
  virtual ~Source() = default;
  /// A number in [0, bound) (bound ≥ 1).
  virtual std::uint32_t below(std::uint32_t bound) = 0;
  bool chance(std::uint32_t percent) { return below(100) < percent; }
  std::uint32_t range(std::uint32_t lo, std::uint32_t hi) { return lo + below(hi - lo + 1); }
};

/// splitmix64: small, fast, and the same sequence on every platform.
class Prng final : public Source {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t bound) override {
    return static_cast<std::uint32_t>(next() % bound);
  }

 private:
  std::uint64_t state_;
};

/// A fuzzer's input as a Source.
class ByteSource final : public Source {
 public:
  ByteSource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint32_t below(std::uint32_t bound) override {
    std::uint32_t v = 0;
    for (int i = 0; i < 2; ++i) v = (v << 8) | (pos_ < size_ ? data_[pos_++] : 0);
    return v % bound;
  }
  [[nodiscard]] bool exhausted() const { return pos_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// One operation of a sequence: a kind and up to five small arguments (their meaning per kind
/// is in `describe`).
struct Op {
  std::uint8_t kind = 0;
  std::uint32_t a = 0, b = 0, c = 0, d = 0, e = 0;
};

/// Runs `ops` against the broker and the model; the failure's description, or nullopt.
using Runner = std::function<std::optional<std::string>(const std::vector<Op>&)>;

/// Delta debugging (ddmin) over the op list: the smallest sequence (by removing chunks, then
/// single ops) that still fails. Bounded by `budget` runs.
inline std::vector<Op> shrink(std::vector<Op> ops, const Runner& run, int budget = 4000) {
  std::size_t chunk = ops.size() / 2;
  while (chunk >= 1 && budget > 0) {
    bool removed = false;
    for (std::size_t start = 0; start < ops.size() && budget > 0;) {
      std::vector<Op> candidate;
      candidate.reserve(ops.size());
      for (std::size_t i = 0; i < ops.size(); ++i) {
        if (i < start || i >= start + chunk) candidate.push_back(ops[i]);
      }
      --budget;
      if (!candidate.empty() && run(candidate)) {
        ops = std::move(candidate);
        removed = true;
      } else {
        start += chunk;
      }
    }
    if (!removed) chunk /= 2;
  }
  return ops;
}

/// A family of sequences: how to make a scenario and its operations, and how to run them.
template <class Scenario>
struct Family {
  std::function<Scenario(Source&)> scenario;
  std::function<Op(Source&, const Scenario&)> op;
  std::function<std::string(const Op&)> describe;
  std::function<std::optional<std::string>(const Scenario&, const std::vector<Op>&)> run;
};

struct Tally {
  std::uint64_t sequences = 0;
  std::uint64_t operations = 0;
};

/// Runs `sequences` sequences of `ops` operations, seeds first_seed, first_seed + 1, ... On the
/// first failure returns a report: the seed, the scenario, the failure, and the sequence shrunk
/// by delta debugging (replay: SWITCHYARD_MODEL_SEED=<seed>).
template <class Scenario>
std::optional<std::string> explore(const Family<Scenario>& f, std::uint64_t first_seed,
                                   std::uint64_t sequences, std::size_t ops, Tally& tally) {
  for (std::uint64_t i = 0; i < sequences; ++i) {
    const std::uint64_t seed = first_seed + i;
    Prng prng(seed);
    Scenario scenario = f.scenario(prng);
    std::vector<Op> list;
    list.reserve(ops);
    for (std::size_t k = 0; k < ops; ++k) list.push_back(f.op(prng, scenario));
    auto failure = f.run(scenario, list);
    ++tally.sequences;
    tally.operations += list.size();
    if (!failure) continue;
    const Runner again = [&](const std::vector<Op>& candidate) {
      return f.run(scenario, candidate);
    };
    const std::vector<Op> shrunk = shrink(list, again);
    const auto shrunk_failure = f.run(scenario, shrunk);
    std::string report = "model mismatch, seed " + std::to_string(seed) +
                         " (replay: SWITCHYARD_MODEL_SEED=" + std::to_string(seed) + ")\n" + "  " +
                         scenario.describe() + "\n  first failure: " + *failure + "\n  shrunk to " +
                         std::to_string(shrunk.size()) + " of " + std::to_string(list.size()) +
                         " operations";
    if (shrunk_failure) report += ", failing with: " + *shrunk_failure;
    report += "\n";
    for (std::size_t k = 0; k < shrunk.size(); ++k) {
      report += "    " + std::to_string(k) + ": " + f.describe(shrunk[k]) + "\n";
    }
    return report;
  }
  return std::nullopt;
}

/// Environment knob `name` as a number, or `fallback`.
inline std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace switchyard::model
