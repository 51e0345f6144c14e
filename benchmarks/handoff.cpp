// benchmarks/handoff.cpp — handoff_spsc, handoff_mpmc_1p1c, handoff_mpmc_2p2c: 8-byte items
// from P producer threads to C consumer threads through one bounded structure, single-item
// operations, as fast as it goes. items_per_second counts items delivered.
#include <atomic>
#include <cstdint>

#include "families.hpp"
#include "harness.hpp"
#include "ring_peers.hpp"

namespace switchyard_bench {
namespace {

template <class Impl>
void handoff(benchmark::State& state, int producers, int consumers) {
  Impl impl;
  const std::uint64_t per_producer = kHandoffItems / static_cast<std::uint64_t>(producers);
  const std::uint64_t total = per_producer * static_cast<std::uint64_t>(producers);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<std::uint64_t> sum{0};
    allocations += run_threads(producers + consumers, [&](int index) {
      if (index < producers) {
        auto& producer = impl.producer(index);
        for (std::uint64_t i = 1; i <= per_producer; ++i) {
          retry([&] { return producer.try_push(i); });
        }
        return;
      }
      // Consumers publish their count every kFlush items and whenever the structure looks
      // empty, and stop once every item is accounted for.
      constexpr std::uint64_t kFlush = 256;
      auto& consumer = impl.consumer(index - producers);
      std::uint64_t local = 0;
      std::uint64_t local_sum = 0;
      std::uint64_t value = 0;
      Backoff backoff;
      for (;;) {
        if (consumer.try_pop(value)) {
          local_sum += value;
          if (++local == kFlush) {
            consumed.fetch_add(local, std::memory_order_relaxed);
            local = 0;
          }
          backoff.reset();
          continue;
        }
        if (local != 0) {
          consumed.fetch_add(local, std::memory_order_relaxed);
          local = 0;
        }
        if (consumed.load(std::memory_order_relaxed) >= total) break;
        backoff.pause();
      }
      sum.fetch_add(local_sum, std::memory_order_relaxed);
    });
    items += total;
    if (sum.load() !=
        static_cast<std::uint64_t>(producers) * per_producer * (per_producer + 1) / 2) {
      state.SkipWithError("items lost or duplicated");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("handoff_spsc/switchyard", handoff<SwitchyardSpsc>, 1, 1);
SWITCHYARD_BENCHMARK("handoff_spsc/boost_spsc_queue", handoff<BoostSpsc>, 1, 1);
SWITCHYARD_BENCHMARK("handoff_spsc/moodycamel_rwq", handoff<MoodycamelRwq>, 1, 1);

SWITCHYARD_BENCHMARK("handoff_mpmc_1p1c/switchyard", handoff<SwitchyardMpmc>, 1, 1);
SWITCHYARD_BENCHMARK("handoff_mpmc_1p1c/moodycamel_cq", handoff<MoodycamelCq>, 1, 1);
SWITCHYARD_BENCHMARK("handoff_mpmc_1p1c/boost_lockfree_queue", handoff<BoostLockfreeQueue>, 1, 1);
SWITCHYARD_BENCHMARK("handoff_mpmc_1p1c/mutex_deque", handoff<MutexDeque>, 1, 1);

SWITCHYARD_BENCHMARK("handoff_mpmc_2p2c/switchyard", handoff<SwitchyardMpmc>, 2, 2);
SWITCHYARD_BENCHMARK("handoff_mpmc_2p2c/moodycamel_cq", handoff<MoodycamelCq>, 2, 2);
SWITCHYARD_BENCHMARK("handoff_mpmc_2p2c/boost_lockfree_queue", handoff<BoostLockfreeQueue>, 2, 2);
SWITCHYARD_BENCHMARK("handoff_mpmc_2p2c/mutex_deque", handoff<MutexDeque>, 2, 2);

}  // namespace
}  // namespace switchyard_bench
