// benchmarks/roundtrip.cpp — roundtrip_parked/eventcount_ring: the mechanism under a parked
// consumer, alone: an 8-byte ping from thread A to thread B and the pong back through
// detail::Ring, each receiver parking at once on a detail::EventCount (futex) — no spin or
// yield phase. It shows what the wake-up path itself costs (ring push, futex wake, return from
// futex wait, ring pop). switchyard's own side of the family, roundtrip_parked/switchyard in
// switchyard_sides.cpp, goes through two Queues and consumers with WaitStrategy::park (which
// spins and yields briefly before it parks). Counters p50_ns and p99_ns per round trip; the
// peer is ZeroMQ PAIR (zmq_peers.cpp), whose zmq_recv sleeps in poll().
#include <chrono>
#include <cstdint>
#include <thread>

#include <switchyard/detail/ring.hpp>
#include "sync/event_count.hpp"

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

// One direction: a ring, and an event count the receiver sleeps on when the ring is empty.
class ParkedChannel {
 public:
  void send(std::uint64_t value) noexcept {
    retry([&] { return ring_.try_push(std::uint64_t{value}); });
    ready_.notify_one();  // one fence and one load when the receiver is not asleep
  }

  std::uint64_t receive() noexcept {
    std::uint64_t value = 0;
    for (;;) {
      const std::uint32_t key = ready_.prepare_wait();
      if (ring_.try_pop(value)) {
        ready_.cancel_wait();
        return value;
      }
      ready_.wait(key, std::chrono::milliseconds(100));
      if (ring_.try_pop(value)) return value;
    }
  }

 private:
  switchyard::detail::Ring<std::uint64_t> ring_{64};
  switchyard::detail::EventCount ready_;
};

void roundtrip_parked(benchmark::State& state) {
  ParkedChannel ping;
  ParkedChannel pong;
  LatencySamples round_trips(kRoundTrips);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
          const std::int64_t start = now_ns();
          ping.send(i);
          if (pong.receive() != i) ok = false;
          round_trips.add(now_ns() - start);
        }
        return;
      }
      for (std::uint64_t i = 0; i < kRoundTrips; ++i) pong.send(ping.receive());
    });
    items += kRoundTrips;
    if (!ok) {
      state.SkipWithError("round trip returned the wrong value");
      break;
    }
  }
  round_trips.report(state);
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("roundtrip_parked/eventcount_ring", roundtrip_parked)->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
