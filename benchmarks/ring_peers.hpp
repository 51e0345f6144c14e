// benchmarks/ring_peers.hpp — every structure in the hand-off and latency families behind one
// shape, so a family is written once and instantiated per implementation:
//
//   struct Impl {                   // default-constructed with room for kRingCapacity items
//     Producer& producer(int i);    // producing thread i's end (moodycamel: owns a token);
//     Consumer& consumer(int i);    // the same object on every iteration, i < kMaxEnds
//   };
//   bool Producer::try_push(std::uint64_t);   bool Consumer::try_pop(std::uint64_t&);
//
// Every try_* is a single-item operation that never blocks and never allocates in the steady
// state (allocs_per_item shows it if one does).
#pragma once

#include <concurrentqueue/concurrentqueue.h>
#include <readerwriterqueue/readerwriterqueue.h>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>

#include <cstdint>
#include <deque>
#include <mutex>

#include <switchyard/detail/ring.hpp>
#include "sync/spsc_ring.hpp"

#include "families.hpp"

namespace switchyard_bench {

/// Most producer or consumer threads any family uses.
inline constexpr int kMaxEnds = 2;

// A structure whose producer and consumer ends are the structure itself.
template <class Self>
struct SelfEnds {
  Self& producer(int /*thread*/) noexcept { return static_cast<Self&>(*this); }
  Self& consumer(int /*thread*/) noexcept { return static_cast<Self&>(*this); }
};

/// switchyard's SPSC ring (handoff_spsc/switchyard).
struct SwitchyardSpsc : SelfEnds<SwitchyardSpsc> {
  switchyard::detail::SpscRing<std::uint64_t> ring{kRingCapacity};
  bool try_push(std::uint64_t v) noexcept { return ring.try_push(std::uint64_t{v}); }
  bool try_pop(std::uint64_t& v) noexcept { return ring.try_pop(v); }
};

/// switchyard's MPMC ring, the library's hot path (handoff_mpmc_*, latency_oneway).
struct SwitchyardMpmc : SelfEnds<SwitchyardMpmc> {
  switchyard::detail::Ring<std::uint64_t> ring{kRingCapacity};
  bool try_push(std::uint64_t v) noexcept { return ring.try_push(std::uint64_t{v}); }
  bool try_pop(std::uint64_t& v) noexcept { return ring.try_pop(v); }
};

/// boost::lockfree::spsc_queue with a run-time capacity.
struct BoostSpsc : SelfEnds<BoostSpsc> {
  boost::lockfree::spsc_queue<std::uint64_t> queue{kRingCapacity};
  bool try_push(std::uint64_t v) noexcept { return queue.push(v); }
  bool try_pop(std::uint64_t& v) noexcept { return queue.pop(v); }
};

/// moodycamel::ReaderWriterQueue (SPSC), preallocated, never grown (try_enqueue).
struct MoodycamelRwq : SelfEnds<MoodycamelRwq> {
  moodycamel::ReaderWriterQueue<std::uint64_t> queue{kRingCapacity};
  bool try_push(std::uint64_t v) noexcept { return queue.try_enqueue(v); }
  bool try_pop(std::uint64_t& v) noexcept { return queue.try_dequeue(v); }
};

/// boost::lockfree::queue (MPMC), node pool preallocated, bounded_push never allocates.
struct BoostLockfreeQueue : SelfEnds<BoostLockfreeQueue> {
  boost::lockfree::queue<std::uint64_t> queue{kRingCapacity};
  bool try_push(std::uint64_t v) noexcept { return queue.bounded_push(v); }
  bool try_pop(std::uint64_t& v) noexcept { return queue.pop(v); }
};

/// moodycamel::ConcurrentQueue (MPMC) used as its author recommends for speed: one
/// ProducerToken per producing thread and one ConsumerToken per consuming thread, kept for the
/// whole benchmark. enqueue may allocate a block when its producer has none free (that shows in
/// allocs_per_item). Bounded like every other structure here: a producer refuses to push while
/// size_approx() ≥ kRingCapacity, checked every kBoundCheck pushes (so the bound is approximate
/// and costs the peer almost nothing). try_enqueue cannot bound it: an explicit producer never
/// returns its blocks to the shared pool, so a producer that owns none can starve for ever
/// while the other hoards the pool.
struct MoodycamelCq {
  using Queue = moodycamel::ConcurrentQueue<std::uint64_t>;
  static constexpr int kBoundCheck = 64;
  struct Producer {
    Queue& queue;
    moodycamel::ProducerToken token{queue};
    int since_check = 0;
    bool over_bound = false;
    bool try_push(std::uint64_t v) noexcept {
      if (over_bound) {
        if (queue.size_approx() >= kRingCapacity) return false;
        over_bound = false;
      }
      if (!queue.enqueue(token, v)) return false;
      if (++since_check == kBoundCheck) {
        since_check = 0;
        over_bound = queue.size_approx() >= kRingCapacity;
      }
      return true;
    }
  };
  struct Consumer {
    Queue& queue;
    moodycamel::ConsumerToken token{queue};
    bool try_pop(std::uint64_t& v) noexcept { return queue.try_dequeue(token, v); }
  };
  Queue queue{kRingCapacity * kMaxEnds, kMaxEnds, 0};
  std::deque<Producer> producers;
  std::deque<Consumer> consumers;
  MoodycamelCq() {
    for (int i = 0; i < kMaxEnds; ++i) {
      producers.push_back(Producer{queue});
      consumers.push_back(Consumer{queue});
    }
  }
  Producer& producer(int i) { return producers[static_cast<std::size_t>(i)]; }
  Consumer& consumer(int i) { return consumers[static_cast<std::size_t>(i)]; }
};

/// std::mutex around a std::deque, bounded at kRingCapacity: the structure a user writes first.
struct MutexDeque : SelfEnds<MutexDeque> {
  std::mutex mutex;
  std::deque<std::uint64_t> items;
  bool try_push(std::uint64_t v) {
    const std::lock_guard lock(mutex);
    if (items.size() >= kRingCapacity) return false;
    items.push_back(v);
    return true;
  }
  bool try_pop(std::uint64_t& v) {
    const std::lock_guard lock(mutex);
    if (items.empty()) return false;
    v = items.front();
    items.pop_front();
    return true;
  }
};

}  // namespace switchyard_bench
