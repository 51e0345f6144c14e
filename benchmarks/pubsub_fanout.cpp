// benchmarks/pubsub_fanout.cpp — switchyard's side of pubsub_fanout4 (ephemeral pub/sub, Redis
// PUBLISH/SUBSCRIBE semantics; the Redis peer is in redis_peers.cpp): kPubsubMessages 64-byte
// messages published on one channel with kFanout subscriptions, SlowSubscriber::block so none
// is dropped (Redis with its output-buffer limits off); counts deliveries. The iteration ends
// when every subscriber's handler saw every message, in order.
#include <switchyard/switchyard.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

struct Counter {
  // Written by the subscription's dispatch thread, read by the benchmark's: release/acquire.
  std::atomic<std::uint64_t> seen{0};
  std::atomic<bool> in_order{true};
};

void pubsub_fanout_switchyard(benchmark::State& state) {
  switchyard::Broker broker;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  int round = 0;
  for (auto _ : state) {
    const std::string channel = "fanout-" + std::to_string(round++);
    std::vector<std::unique_ptr<Counter>> counters;
    std::vector<switchyard::Subscription> subscriptions;
    for (int s = 0; s < kFanout; ++s) {
      auto* counter = counters.emplace_back(std::make_unique<Counter>()).get();
      subscriptions.push_back(
          broker.subscribe(channel,
                           [counter](const switchyard::Message& m) {
                             std::uint64_t seq = 0;
                             std::memcpy(&seq, m.payload().bytes().data(), sizeof seq);
                             const std::uint64_t n = counter->seen.load(std::memory_order_relaxed);
                             if (seq != n)
                               counter->in_order.store(false, std::memory_order_relaxed);
                             counter->seen.store(n + 1, std::memory_order_release);
                           },
                           {.when_full = switchyard::SlowSubscriber::block,
                            .block_timeout = std::chrono::seconds(60)}));
    }
    allocations += run_threads(1, [&](int) {
      Message64 message;
      for (std::uint64_t i = 0; i < kPubsubMessages; ++i) {
        message.seq = i;
        if (broker.publish(channel, {reinterpret_cast<const char*>(&message), sizeof message}) !=
            static_cast<std::size_t>(kFanout)) {
          ok = false;
        }
      }
      for (const auto& counter : counters) {
        Backoff backoff;
        while (counter->seen.load(std::memory_order_acquire) < kPubsubMessages) backoff.pause();
        if (!counter->in_order.load(std::memory_order_relaxed)) ok = false;
      }
    });
    subscriptions.clear();
    items += kPubsubMessages * kFanout;
    if (!ok) {
      state.SkipWithError("a switchyard subscriber lost or reordered a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("pubsub_fanout4/switchyard", pubsub_fanout_switchyard);

}  // namespace
}  // namespace switchyard_bench
