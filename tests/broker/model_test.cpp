// The reference models of tests/model/ driven at random against the real broker: the same
// operation sequence against both, every observable result compared after every step.
//
//   SWITCHYARD_MODEL_SEED=<seed>        replay one failing sequence (printed with its seed)
//   SWITCHYARD_MODEL_SEQUENCES=<n>      sequences per test case (longer runs; default below)
//   SWITCHYARD_MODEL_OPS=<n>            operations per sequence (default 60; durable 120)
//   SWITCHYARD_MODEL_FIRST_SEED=<seed>  first seed of a run (default: fixed, so CI is repeatable)
//   SWITCHYARD_MODEL_ROUNDS=<n>         rounds of the concurrent variant (its seed: _SEED too)
#include <fmt/core.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

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
  run_family("model-memory-queues", queue_family(false, {}), 16000, 1'000'000);
}

TEST_CASE("a durable queue behaves as its model across random operations and restarts") {
  const auto dir = scratch_dir("queue");
  // Small segments (kSegmentBytes): a durable sequence with its restarts costs ~4 ms.
  run_family("model-durable-queues", queue_family(true, dir), 2000, 2'000'000, 120);
  std::filesystem::remove_all(dir);
}

TEST_CASE("an in-memory topic behaves as its model under random operation sequences") {
  run_family("model-memory-topics", topic_family(false, {}), 6000, 3'000'000);
}

TEST_CASE("a durable topic behaves as its model across random operations and restarts") {
  const auto dir = scratch_dir("topic");
  run_family("model-durable-topics", topic_family(true, dir), 2000, 4'000'000, 120);
  std::filesystem::remove_all(dir);
}

// --- the concurrent variant -----------------------------------------------------------
// Real threads: 2-4 producers, 2-4 consumers that ack, nack and close at random. What the
// model allows at the end: every message acked exactly once (no consumer fails here, so none
// twice), a group's messages acked in their send order (one in flight per group), and the
// counters adding up.

TEST_CASE(
    "under real producer and consumer threads every message is acked once and groups keep "
    "their order") {
  using namespace std::chrono_literals;
#ifdef SWITCHYARD_SANITIZER_BUILD
  const std::uint64_t rounds = env_number("SWITCHYARD_MODEL_ROUNDS", 4);
  const std::uint32_t per_producer = 200;
#else
  const std::uint64_t rounds = env_number("SWITCHYARD_MODEL_ROUNDS", 16);
  const std::uint32_t per_producer = 1000;
#endif
  const std::uint64_t first_seed = env_number("SWITCHYARD_MODEL_SEED", 5'000'000);
  std::uint64_t messages = 0, redelivered = 0, closes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t round = 0; round < rounds; ++round) {
    Prng prng(first_seed + round);
    const std::uint32_t producers = prng.range(2, 4), consumers = prng.range(2, 4);
    const bool grouped = prng.chance(50);
    INFO("seed " << first_seed + round << " (SWITCHYARD_MODEL_SEED): producers=" << producers
                 << " consumers=" << consumers << " grouped=" << grouped);
    Broker broker;
    broker.declare_queue("q", {.capacity = 256,
                               .send_timeout = 30s,
                               .prefetch = prng.range(1, 8),
                               .visibility_timeout = Duration{0}});
    const std::uint32_t total = producers * per_producer;
    // Payload "<producer> <seq>": acks per message, and the next expected seq per group.
    std::vector<std::atomic<std::uint32_t>> acks(total);
    std::vector<std::atomic<std::uint32_t>> next_in_group(producers);
    std::atomic<std::uint32_t> acked{0}, nacked{0}, order_breaks{0}, closed{0}, ack_failed{0};
    std::atomic<bool> send_failed{false};
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        Producer producer = broker.producer();
        const std::string group = grouped ? "g" + std::to_string(p) : std::string();
        for (std::uint32_t i = 0; i < per_producer; ++i) {
          const std::string payload = std::to_string(p) + " " + std::to_string(i);
          if (!producer.send("q", payload, {.group = group})) send_failed = true;
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    for (std::uint32_t c = 0; c < consumers; ++c) {
      threads.emplace_back([&, c, seed = first_seed + round] {
        Prng choices(seed * 31 + c);
        Consumer consumer = broker.consumer("q");
        std::vector<Delivery> held;
        while (acked.load() < total && std::chrono::steady_clock::now() < deadline) {
          auto got = consumer.receive(1ms);
          if (got) held.push_back(std::move(*got));
          if (held.empty()) continue;
          const std::uint32_t roll = choices.below(100);
          if (roll < 2) {  // close: what it holds goes back, attempts kept
            held.clear();
            consumer.close();
            consumer = broker.consumer("q");
            closed.fetch_add(1);
            continue;
          }
          if (roll < 12 && held.size() < 3) continue;  // hold a little longer
          Delivery d = std::move(held.front());
          held.erase(held.begin());
          const std::string text(d.payload().as_string());
          const auto space = text.find(' ');
          const std::uint32_t p = std::stoul(text.substr(0, space));
          const std::uint32_t i = std::stoul(text.substr(space + 1));
          if (roll < 27) {
            if (d.nack()) nacked.fetch_add(1);
            continue;
          }
          // While this delivery is unsettled no other message of its group is out, so only
          // this thread touches the group's expected seq until the ack below.
          if (grouped) {
            if (next_in_group[p].load() != i) order_breaks.fetch_add(1);
            next_in_group[p].store(i + 1);
          }
          if (!d.ack()) {
            ack_failed.fetch_add(1);
            continue;
          }
          acks[p * per_producer + i].fetch_add(1);
          acked.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    REQUIRE_FALSE(send_failed.load());
    REQUIRE(acked.load() == total);  // else: timed out after 120 s
    std::uint32_t twice = 0, never = 0;
    for (auto& a : acks) {
      twice += a.load() > 1;
      never += a.load() == 0;
    }
    CHECK(twice == 0);
    CHECK(never == 0);
    CHECK(order_breaks.load() == 0);
    CHECK(ack_failed.load() == 0);
    const QueueStats st = broker.queue("q").stats();
    CHECK(st.enqueued == total);
    CHECK(st.acked == total);
    CHECK(st.nacked == nacked.load());
    CHECK(st.depth == 0);
    CHECK(st.in_flight == 0);
    CHECK(st.delivered == total + st.redelivered);
    messages += total;
    redelivered += st.redelivered;
    closes += closed.load();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "figures: model-concurrent-queues: sequences={} operations={} acked={} redelivered={} "
      "lost=0 seconds={:.1f}\n",
      rounds, messages, messages, redelivered, seconds);
  (void)closes;
}
