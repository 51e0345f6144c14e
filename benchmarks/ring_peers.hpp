// benchmarks/ring_peers.hpp — every structure in the hand-off and latency families behind one
// shape, so a family is written once and instantiated per implementation:
//
//   struct Impl {                 // default-constructed with room for kRingCapacity items
//     Producer producer();        // one per producing thread (moodycamel: owns a token)
//     Consumer consumer();        // one per consuming thread
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
#include <switchyard/detail/spsc_ring.hpp>

#include "families.hpp"

namespace switchyard_bench {

// A structure whose producer and consumer ends are the structure itself.
template <class Self>
struct SelfEnds {
  Self& producer() noexcept { return static_cast<Self&>(*this); }
  Self& consumer() noexcept { return static_cast<Self&>(*this); }
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
/// ProducerToken per producing thread and one ConsumerToken per consuming thread.
struct MoodycamelCq {
  // Room for kRingCapacity items per explicit producer; try_enqueue never allocates.
  moodycamel::ConcurrentQueue<std::uint64_t> queue{kRingCapacity * 4, 4, 0};
  struct Producer {
    moodycamel::ConcurrentQueue<std::uint64_t>& queue;
    moodycamel::ProducerToken token{queue};
    bool try_push(std::uint64_t v) noexcept { return queue.try_enqueue(token, v); }
  };
  struct Consumer {
    moodycamel::ConcurrentQueue<std::uint64_t>& queue;
    moodycamel::ConsumerToken token{queue};
    bool try_pop(std::uint64_t& v) noexcept { return queue.try_dequeue(token, v); }
  };
  Producer producer() { return Producer{queue}; }
  Consumer consumer() { return Consumer{queue}; }
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
