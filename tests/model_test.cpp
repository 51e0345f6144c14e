// The reference models of tests/model/ driven at random against the real broker: the same
// operation sequence against both, every observable result compared after every step.
//
//   SWITCHYARD_MODEL_SEED=<seed>        replay one failing sequence (printed with its seed)
//   SWITCHYARD_MODEL_SEQUENCES=<n>      sequences per test case (longer runs; default below)
//   SWITCHYARD_MODEL_OPS=<n>            operations per sequence (default 60; durable 120)
//   SWITCHYARD_MODEL_FIRST_SEED=<seed>  first seed of a run (default: fixed, so CI is repeatable)
#include <fmt/core.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "model/queue_model.hpp"
#include "model/topic_model.hpp"

using namespace switchyard;
using namespace switchyard::model;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr std::uint64_t kScale = 8;  // sanitizers run ~10x slower
#else
constexpr std::uint64_t kScale = 1;
#endif

/// A data directory for the durable families: on tmpfs when there is one (what is tested is
/// what a reopen keeps, not the disk; a disk's fsyncs would make each restart cost ~100 ms).
std::filesystem::path scratch_dir(const char* what) {
  std::error_code ec;
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                         ? std::filesystem::path("/dev/shm")
                                         : std::filesystem::temp_directory_path();
  return base / fmt::format("switchyard-model-{}-{}", ::getpid(), what);
}

/// Runs a family for the configured number of sequences and prints its figures line.
template <class Scenario>
void run_family(const char* name, const Family<Scenario>& family, std::uint64_t sequences,
                std::uint64_t first_seed, std::size_t default_ops = 60) {
  const std::size_t ops = env_number("SWITCHYARD_MODEL_OPS", default_ops);
  std::uint64_t count = env_number("SWITCHYARD_MODEL_SEQUENCES", sequences / kScale);
  if (const char* seed = std::getenv("SWITCHYARD_MODEL_SEED"); seed != nullptr && *seed != 0) {
    first_seed = std::strtoull(seed, nullptr, 10);
    count = 1;
  }
  first_seed = env_number("SWITCHYARD_MODEL_FIRST_SEED", first_seed);
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  const auto failure = explore(family, first_seed, count, ops, tally);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("figures: {}: sequences={} operations={} seconds={:.1f}\n", name, tally.sequences,
             tally.operations, seconds);
  if (failure) FAIL(*failure);
}

Family<QueueScenario> queue_family(bool durable, const std::filesystem::path& dir) {
  Family<QueueScenario> f;
  f.scenario = [durable](Source& src) { return queue_scenario(src, durable); };
  f.op = [](Source& src, const QueueScenario& s) { return queue_op(src, s); };
  f.describe = describe_queue_op;
  f.run = [dir](const QueueScenario& s, const std::vector<Op>& ops) {
    QueueRun run(s, dir);
    return run.run(ops);
  };
  return f;
}

Family<TopicScenario> topic_family(bool durable, const std::filesystem::path& dir) {
  Family<TopicScenario> f;
  f.scenario = [durable](Source& src) { return topic_scenario(src, durable); };
  f.op = [](Source& src, const TopicScenario& s) { return topic_op(src, s); };
  f.describe = describe_topic_op;
  f.run = [dir](const TopicScenario& s, const std::vector<Op>& ops) {
    TopicRun run(s, dir);
    return run.run(ops);
  };
  return f;
}

}  // namespace

TEST_CASE("an in-memory queue behaves as its model under random operation sequences") {
  run_family("model in-memory queues", queue_family(false, {}), 16000, 1'000'000);
}

TEST_CASE("a durable queue behaves as its model across random operations and restarts") {
  const auto dir = scratch_dir("queue");
  // Each broker open maps 64 MiB segments: durable sequences cost ~0.3 s, so fewer, longer.
  run_family("model durable queues", queue_family(true, dir), 40, 2'000'000, 120);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an in-memory topic behaves as its model under random operation sequences") {
  run_family("model in-memory topics", topic_family(false, {}), 6000, 3'000'000);
}

TEST_CASE("a durable topic behaves as its model across random operations and restarts") {
  const auto dir = scratch_dir("topic");
  run_family("model durable topics", topic_family(true, dir), 100, 4'000'000, 120);
  std::filesystem::remove_all(dir);
}
