// src/broker/requester.hpp — a producer's side of request / reply: its reply queue, its pending
// requests, and the reply thread that completes them (switchyard/request.hpp says what a user
// sees).
//
// Data structures
//   RequesterCore  the reply queue (exclusive, auto_delete, named `amq.gen.reply-<n>`) and its
//                  one consumer, which holds the queue's owner token; under mutex_: pending_
//                  (correlation id → deadline and handler) and deadlines_ (deadline, id) in
//                  order, so the earliest timeout is the first entry.
//   Requester      what producers share (Producer::requester_): the core and the reply thread.
//
// Threading
//   * Any thread holding a copy of the producer may `add` / `remove` (under mutex_).
//   * The reply thread alone receives from the reply queue. It waits until the earliest
//     deadline; an `add` with an earlier one interrupts that wait (ConsumerState::interrupt).
//     It resumes (clears the interrupt) before it reads deadlines_ under mutex_, so an add that
//     interrupts after that read finds the flag cleared and sets it again: no timeout is missed.
//   * A handler is taken out of pending_ under mutex_ by exactly one party — the reply, the
//     timeout, the stop, or `remove` after a failed send — and called with no lock held, so it
//     runs once.
//   * Stop (the last producer copy going, or the broker's shutdown closing the reply queue):
//     the thread ends its loop, closes its consumer (the auto-delete then deletes the queue) and
//     calls every pending handler with `closed`. ~Requester joins the thread, or detaches it
//     when it runs on that thread (a handler dropped the last producer copy); the thread holds
//     the core, so the core outlives it either way.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "queue/queue_state.hpp"
#include "route/registry.hpp"
#include "switchyard/request.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

struct RequesterCore {
  struct Pending {
    std::int64_t deadline_ns;
    ReplyHandler handler;
  };

  std::shared_ptr<Registry> registry;
  std::shared_ptr<QueueState> queue;
  std::shared_ptr<ConsumerState> consumer;

  Mutex mutex;
  std::unordered_map<std::uint64_t, Pending> pending GUARDED_BY(mutex);
  std::set<std::pair<std::int64_t, std::uint64_t>> deadlines GUARDED_BY(mutex);
  bool stopped GUARDED_BY(mutex) = false;
  std::uint64_t next_id GUARDED_BY(mutex) = 1;

  // Counters: relaxed, each exact, read by stats().
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> timed_out{0};
  std::atomic<std::uint64_t> late{0};

  /// The reply thread's loop. @note the reply thread only
  void run() noexcept;
  /// Completes the request `reply` answers, or counts it late. @note the reply thread only
  void dispatch(Delivery& reply) noexcept;
  /// Ends the requests whose deadline is at or before `now_ns` with `timed_out`.
  void expire(std::int64_t now_ns) noexcept;
  /// Takes every pending handler out (stop); refuses further adds.
  std::unordered_map<std::uint64_t, Pending> take_all() noexcept;
};

class Requester {
 public:
  /// Makes the reply queue, its consumer and the reply thread; `closed` if the broker is shut
  /// down, `out_of_memory`, or `io_error` when no thread could be started.
  static Result<std::shared_ptr<Requester>> open(
      const std::shared_ptr<Registry>& registry) noexcept;
  ~Requester();
  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;

  [[nodiscard]] const std::string& reply_queue() const noexcept { return core_->queue->name(); }
  /// Registers a request ending at `deadline_ns`; its correlation id, or 0 when stopped (then
  /// `handler` is left untouched). @note threadsafe
  std::uint64_t add(std::int64_t deadline_ns, ReplyHandler& handler) noexcept;
  /// Takes back request `id` (its send failed): its handler, or null if it already ended.
  ReplyHandler remove(std::uint64_t id) noexcept;
  /// Counts a request whose send succeeded. @note threadsafe
  void count_sent() noexcept { core_->sent.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] bool on_reply_thread() const noexcept {
    return std::this_thread::get_id() == thread_id_;
  }
  [[nodiscard]] RequestStats stats() const noexcept;

 private:
  explicit Requester(std::shared_ptr<RequesterCore> core) noexcept : core_(std::move(core)) {}

  std::shared_ptr<RequesterCore> core_;
  std::thread thread_;
  std::thread::id thread_id_;  // set once in open, before the requester is shared
};

}  // namespace switchyard::detail
