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
//
// switchyard's sides go here, named "queue_send_receive_ack/switchyard" and
// "queue_send_receive_ack_batch64/switchyard", with the shape of mutex_deque below.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

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

}  // namespace
}  // namespace switchyard_bench
