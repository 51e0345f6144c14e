// benchmarks/harness.hpp — what every family shares: threads released together, waiting
// without hogging one of this machine's two cores, pacing, latency percentiles, counters,
// and the environment knobs for quick runs.
//
// A benchmark is named exactly `family/implementation` (Google Benchmark appends
// `/real_time`); benchmarks/compare groups results by the part before the first '/'.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "alloc_counter.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace switchyard_bench {

// ---------------------------------------------------------------- environment knobs

/// Integer from the environment, or `fallback` when unset or unparsable.
inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  return (end != nullptr && *end == '\0') ? value : fallback;
}

/// Directory for benchmark files: $SWITCHYARD_BENCH_DIR, else /tmp. Must be on a real disk
/// (not tmpfs) for the fdatasync families to mean anything.
inline std::string bench_dir() {
  const char* dir = std::getenv("SWITCHYARD_BENCH_DIR");
  return (dir != nullptr && *dir != '\0') ? dir : "/tmp";
}

/// A file path under bench_dir() that is unique to this process and `name`, removed (if it
/// exists) when the TempPath is destroyed. Creating the file is the user's business.
class TempPath {
 public:
  explicit TempPath(const std::string& name)
      : path_(bench_dir() + "/switchyard_bench_" + std::to_string(::getpid()) + "_" + name) {}
  ~TempPath() { ::unlink(path_.c_str()); }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  [[nodiscard]] const std::string& str() const noexcept { return path_; }
  [[nodiscard]] const char* c_str() const noexcept { return path_.c_str(); }

 private:
  std::string path_;
};

/// A fresh, empty directory under bench_dir() named `name`, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& name) : path_(TempPath(name).str()) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------- waiting

/// One spin-loop hint (PAUSE on x86).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// Spins a bounded number of times, then yields on every further call. On a 2-vCPU machine a
/// thread that only spins can keep the thread it waits for off the CPU; every retry loop in
/// the benchmarks (except a family defined as busy-polling) waits through one of these.
class Backoff {
 public:
  void pause() noexcept {
    if (spins_ < kSpins) {
      ++spins_;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  void reset() noexcept { spins_ = 0; }

 private:
  static constexpr int kSpins = 64;
  int spins_ = 0;
};

/// Retries `attempt()` (returning bool) until it succeeds, backing off to yield.
template <class F>
inline void retry(F&& attempt) {
  if (attempt()) return;
  Backoff backoff;
  do backoff.pause();
  while (!attempt());
}

// ---------------------------------------------------------------- threads

/// Runs body(0) … body(n-1) on n fresh threads released together by a latch; returns the heap
/// allocations they made between the release and the moment the last of them finished
/// (thread creation and teardown are not counted).
template <class Body>
std::uint64_t run_threads(int n, Body&& body) {
  std::latch ready(n + 1);
  std::latch done(n + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      body(i);
      done.count_down();
    });
  }
  ready.arrive_and_wait();
  const std::uint64_t before = allocation_count();
  done.arrive_and_wait();
  const std::uint64_t after = allocation_count();
  for (auto& t : threads) t.join();
  return after - before;
}

// ---------------------------------------------------------------- counters

/// Sets items_per_second (from `items` processed in total over all iterations) and
/// allocs_per_item.
inline void report_throughput(benchmark::State& state, std::uint64_t items,
                              std::uint64_t allocations) {
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters["allocs_per_item"] =
      items == 0 ? 0.0 : static_cast<double>(allocations) / static_cast<double>(items);
}

// ---------------------------------------------------------------- latency

using Clock = std::chrono::steady_clock;

/// Nanoseconds on the steady clock (both threads read the same clock source).
inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

/// Busy-waits until `deadline_ns` (the pacing gap between latency samples; short enough that
/// yielding would distort it).
inline void spin_until(std::int64_t deadline_ns) noexcept {
  while (now_ns() < deadline_ns) cpu_relax();
}

/// Latency samples taken without allocating in the measured loop (reserve first).
class LatencySamples {
 public:
  explicit LatencySamples(std::size_t expected) { samples_.reserve(expected); }
  void add(std::int64_t ns) noexcept {
    if (samples_.size() < samples_.capacity()) samples_.push_back(ns < 0 ? 0 : ns);
  }
  [[nodiscard]] std::size_t size() const noexcept { return samples_.size(); }
  /// Sample `i` in the order added (until a quantile reorders them).
  [[nodiscard]] std::int64_t at(std::size_t i) const noexcept { return samples_[i]; }
  /// Forgets the samples, keeping the reserved room.
  void clear() noexcept { samples_.clear(); }
  /// The q-quantile (0 < q < 1), nearest rank. Reorders the samples.
  double quantile(double q) {
    if (samples_.empty()) return 0;
    const auto k = static_cast<std::size_t>(q * static_cast<double>(samples_.size() - 1));
    std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(k),
                     samples_.end());
    return static_cast<double>(samples_[k]);
  }
  /// Sets the p50_ns and p99_ns counters.
  void report(benchmark::State& state) {
    state.counters["p50_ns"] = quantile(0.50);
    state.counters["p99_ns"] = quantile(0.99);
  }

 private:
  std::vector<std::int64_t> samples_;
};

/// Samples per latency run: $SWITCHYARD_BENCH_LATENCY_SAMPLES, default 1,000,000.
inline std::uint64_t latency_samples() {
  return env_u64("SWITCHYARD_BENCH_LATENCY_SAMPLES", 1'000'000);
}

}  // namespace switchyard_bench

/// Registers `fn` (with optional bound arguments) as the benchmark `name` ("family/impl"),
/// measured in real time. Chain further options: SWITCHYARD_BENCHMARK(...)->Iterations(1);
#define SWITCHYARD_BENCHMARK(name, ...)                                           \
  [[maybe_unused]] static ::benchmark::internal::Benchmark* SWITCHYARD_BENCH_CAT( \
      switchyard_bench_registration_, __COUNTER__) =                              \
      ::benchmark::RegisterBenchmark(name, __VA_ARGS__)->UseRealTime()
#define SWITCHYARD_BENCH_CAT(a, b) SWITCHYARD_BENCH_CAT2(a, b)
#define SWITCHYARD_BENCH_CAT2(a, b) a##b
