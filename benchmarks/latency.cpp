// benchmarks/latency.cpp — latency_oneway: one 8-byte item at a time. The producer stamps the
// item with the steady clock and pushes it; the consumer busy-polls (this family is defined as
// busy-polling: no back-off), records now − stamp and reports the sample done; the producer
// waits for that report, then for kLatencyPaceNs, before the next item. So every sample is one
// hand-off into an empty structure — a consumer descheduled by the VM costs that one sample,
// not a backlog. Counters p50_ns and p99_ns over latency_samples() samples; items_per_second
// is the pacing rate and means little.
#include <atomic>
#include <cstdint>

#include "families.hpp"
#include "harness.hpp"
#include "ring_peers.hpp"

#include <switchyard/detail/cache_line.hpp>

namespace switchyard_bench {
namespace {

template <class Impl>
void latency_oneway(benchmark::State& state) {
  Impl impl;
  const std::uint64_t samples = latency_samples();
  LatencySamples latencies(samples);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    // The consumer's count of samples taken; written by the consumer, read by the producer.
    alignas(switchyard::detail::kCacheLine) std::atomic<std::uint64_t> taken{0};
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        auto& producer = impl.producer(index);
        for (std::uint64_t i = 0; i < samples; ++i) {
          const std::int64_t stamp = now_ns();
          while (!producer.try_push(static_cast<std::uint64_t>(stamp))) cpu_relax();
          // Acquire: pairs with the consumer's release below (orders nothing we rely on beyond
          // the count itself). Not timed, so it may yield if the consumer was preempted.
          retry([&] { return taken.load(std::memory_order_acquire) > i; });
          spin_until(stamp + kLatencyPaceNs);
        }
        return;
      }
      auto& consumer = impl.consumer(0);
      std::uint64_t stamp = 0;
      for (std::uint64_t received = 0; received < samples;) {
        if (consumer.try_pop(stamp)) {
          latencies.add(now_ns() - static_cast<std::int64_t>(stamp));
          ++received;
          taken.store(received, std::memory_order_release);
        } else {
          cpu_relax();
        }
      }
    });
    items += samples;
  }
  latencies.report(state);
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("latency_oneway/switchyard", latency_oneway<SwitchyardMpmc>)->Iterations(1);
SWITCHYARD_BENCHMARK("latency_oneway/boost_spsc_queue", latency_oneway<BoostSpsc>)->Iterations(1);
SWITCHYARD_BENCHMARK("latency_oneway/moodycamel_cq", latency_oneway<MoodycamelCq>)->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
