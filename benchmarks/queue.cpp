// benchmarks/queue.cpp — queue_send_receive_ack and queue_send_receive_ack_batch64: 64-byte
// messages from one producer thread to one consumer thread through a queue with at-least-once
// semantics: send → receive → ack, one message at a time (batch64: 64 at a time).
// kQueueMessages per iteration, kQueueCapacity bounded; items_per_second counts messages acked.
// switchyard's side must also show allocs_per_item == 0 (target). ZeroMQ's sides are in
// zmq_peers.cpp.
//
//   queue_send_receive_ack/mutex_deque   std::mutex + std::deque<Message64> + two condition
//                                        variables (not full / not empty), blocking on both
//                                        ends; receiving removes the message (no ack state).
//   queue_send_receive_ack/owned_copy_floor
//   queue_send_receive_ack_batch64/owned_copy_floor
//                                        not a peer but a ceiling: the least any queue that
//                                        owns a copy of each payload must do. The sender takes
//                                        a block from switchyard's BlockPool (the same 104-byte
//                                        size a 64-byte message needs), writes a header and the
//                                        payload, and hands the pointer through switchyard's
//                                        Ring (the fastest MPMC structure in handoff_*); the
//                                        receiver reads the payload and frees the block. No
//                                        capacity accounting, in-flight state, ack, clock or
//                                        wake-up. batch64 fills and drains runs of 64.
//
// switchyard's sides go here, named "queue_send_receive_ack/switchyard" and
// "queue_send_receive_ack_batch64/switchyard", with the shape of mutex_deque below.
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>

#include <switchyard/detail/block_pool.hpp>
#include <switchyard/detail/ring.hpp>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

class MutexDequeQueue {
 public:
  void send(const Message64& message) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < kQueueCapacity; });
    items_.push_back(message);
    lock.unlock();
    not_empty_.notify_one();
  }
  Message64 receive() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    const Message64 message = items_.front();
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return message;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<Message64> items_;
};

void queue_send_receive_ack_mutex_deque(benchmark::State& state) {
  MutexDequeQueue queue;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        Message64 message;
        for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
          message.seq = i;
          queue.send(message);
        }
        return;
      }
      for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
        if (queue.receive().seq != i) ok = false;
      }
    });
    items += kQueueMessages;
    if (!ok) {
      state.SkipWithError("mutex_deque lost or reordered a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack/mutex_deque", queue_send_receive_ack_mutex_deque);

/// What owned_copy_floor moves: a pooled block with a message header in front of the payload.
struct FloorMessage {
  std::uint64_t id;
  std::int64_t sent_ns;
  std::uint32_t refs;
  std::uint32_t size;
  std::byte header_rest[16];
  Message64 payload;
};
inline constexpr std::size_t kFloorBlock = 104;  // a 64-byte message body in switchyard
static_assert(sizeof(FloorMessage) <= kFloorBlock);

void owned_copy_floor(benchmark::State& state, std::size_t batch) {
  using switchyard::detail::BlockPool;
  switchyard::detail::Ring<FloorMessage*> ring(kQueueCapacity);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    allocations += run_threads(2, [&](int index) {
      BlockPool& pool = BlockPool::instance();
      if (index == 0) {
        Message64 message;
        std::vector<FloorMessage*> run(batch);
        for (std::uint64_t i = 0; i < kQueueMessages; i += batch) {
          for (std::size_t k = 0; k < batch; ++k) {
            message.seq = i + k;
            auto* m = new (pool.allocate(kFloorBlock)) FloorMessage;
            m->id = i + k;
            m->sent_ns = 0;
            m->refs = 1;
            m->size = sizeof message;
            std::memcpy(&m->payload, &message, sizeof message);
            run[k] = m;
          }
          for (FloorMessage* m : run) retry([&] { return ring.try_push(std::move(m)); });
        }
        return;
      }
      for (std::uint64_t i = 0; i < kQueueMessages;) {
        FloorMessage* m = nullptr;
        retry([&] { return ring.try_pop(m); });
        for (std::size_t k = 0;;) {
          if (m->payload.seq != i++) ok = false;
          pool.deallocate(m, kFloorBlock);
          if (++k == batch || !ring.try_pop(m)) break;
        }
      }
    });
    items += kQueueMessages;
    if (!ok) {
      state.SkipWithError("owned_copy_floor lost or reordered a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

void queue_send_receive_ack_floor(benchmark::State& state) {
  owned_copy_floor(state, 1);
}
void queue_send_receive_ack_batch64_floor(benchmark::State& state) {
  owned_copy_floor(state, kQueueBatch);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack/owned_copy_floor", queue_send_receive_ack_floor);
SWITCHYARD_BENCHMARK("queue_send_receive_ack_batch64/owned_copy_floor",
                     queue_send_receive_ack_batch64_floor);
// The same floor as the ceiling of the typed-object family (queue_object.cpp).
SWITCHYARD_BENCHMARK("queue_send_receive_ack_object/owned_copy_floor",
                     queue_send_receive_ack_floor);

}  // namespace
}  // namespace switchyard_bench
