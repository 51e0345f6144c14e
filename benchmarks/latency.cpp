// benchmarks/latency.cpp — latency_oneway: one 8-byte item at a time. The producer stamps the
// item with the steady clock and pushes it; the consumer busy-polls (this family is defined as
// busy-polling: no back-off), records now − stamp and reports the sample done; the producer
// waits for that report, then for kLatencyPaceNs, before the next item. So every sample is one
// hand-off into an empty structure — a consumer descheduled by the VM costs that one sample,
// not a backlog. items_per_second is the pacing rate and means little.
//
// What it measures is a hand-off between two cores, so the two threads are pinned to two
// different CPUs of the process's affinity mask (counter pinned = 1; 0 when fewer than two are
// allowed or SWITCHYARD_BENCH_PIN=0, and then the figure also includes the scheduler's placement).
// Unpinned, the kernel may run both on one vCPU for a while (each sample then waits for a context
// switch) or move them between runs: one source of the bimodal medians of issue 17 §4. The other is
// outside the guest: two vCPUs that the hypervisor places on SMT siblings of one physical core
// share L1/L2 (a hand-off of ~70 ns), on two cores they do not (~250 ns), and that placement can
// change between runs without the guest seeing it. So one median is not a figure:
//   p50_ns, p90_ns, p99_ns      over all latency_samples() samples of the run;
//   p50_round_min/max_ns        the spread of the p50 of each round of kLatencyRound samples
//                               within the run (a placement change mid-run shows here);
// and benchmarks/compare's repetitions (median and cv over runs) give the spread between runs.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "families.hpp"
#include "harness.hpp"
#include "ring_peers.hpp"

#include <switchyard/detail/cache_line.hpp>

namespace switchyard_bench {
namespace {

/// Samples per round for the p50_round_* counters.
inline constexpr std::uint64_t kLatencyRound = 100'000;

/// The CPUs this process may run on (its affinity mask), in order.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

/// Pins the calling thread to `cpu`; false if the kernel refuses.
bool pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

template <class Impl>
void latency_oneway(benchmark::State& state) {
  Impl impl;
  const std::uint64_t samples = latency_samples();
  LatencySamples latencies(samples);
  std::vector<double> round_p50;
  // SWITCHYARD_BENCH_PIN=0 leaves placement to the kernel (to see what pinning changes).
  const std::vector<int> cpus =
      env_u64("SWITCHYARD_BENCH_PIN", 1) != 0 ? allowed_cpus() : std::vector<int>{};
  std::atomic<bool> pinned{cpus.size() >= 2};
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    // The consumer's count of samples taken; written by the consumer, read by the producer.
    alignas(switchyard::detail::kCacheLine) std::atomic<std::uint64_t> taken{0};
    allocations += run_threads(2, [&](int index) {
      // Producer on the first allowed CPU, consumer on the second (relaxed: a flag read
      // after run_threads joins).
      if (cpus.size() >= 2 && !pin_this_thread(cpus[static_cast<std::size_t>(index)])) {
        pinned.store(false, std::memory_order_relaxed);
      }
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
  // Per-round p50s first (quantile reorders the samples, so take them round by round on a
  // copy), then the whole run's.
  {
    LatencySamples round(kLatencyRound);
    for (std::size_t i = 0; i < latencies.size(); ++i) {
      round.add(latencies.at(i));
      if (round.size() == kLatencyRound || i + 1 == latencies.size()) {
        round_p50.push_back(round.quantile(0.50));
        round.clear();
      }
    }
  }
  if (!round_p50.empty()) {
    state.counters["p50_round_min_ns"] = *std::min_element(round_p50.begin(), round_p50.end());
    state.counters["p50_round_max_ns"] = *std::max_element(round_p50.begin(), round_p50.end());
  }
  state.counters["p90_ns"] = latencies.quantile(0.90);
  latencies.report(state);
  state.counters["pinned"] = pinned.load(std::memory_order_relaxed) ? 1.0 : 0.0;
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("latency_oneway/switchyard", latency_oneway<SwitchyardMpmc>)->Iterations(1);
SWITCHYARD_BENCHMARK("latency_oneway/boost_spsc_queue", latency_oneway<BoostSpsc>)->Iterations(1);
SWITCHYARD_BENCHMARK("latency_oneway/moodycamel_cq", latency_oneway<MoodycamelCq>)->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
