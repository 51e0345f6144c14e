// switchyard/consumer.hpp — takes messages from a queue: pull (`receive`) or push (`run`).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <span>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/delivery.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/wait_strategy.hpp"

namespace switchyard {

namespace detail {
class Access;
class ConsumerState;
struct PushWorkers;
}

struct ConsumerOptions {
  /// Worker threads a push consumer (`run`) starts. ≥ 1 (0 is refused with
  /// `Errc::invalid_argument` by Broker::consumer).
  std::size_t workers = 1;
  /// Most unacknowledged deliveries held at once, at most 2^20; 0: the queue's `prefetch`.
  std::uint32_t prefetch = 0;
  WaitStrategy wait = WaitStrategy::park;
  /// RabbitMQ's consumer tag: how `Queue::peek` names the holder of an in-flight message;
  /// empty: the broker makes one ("consumer-<n>", unique in the process).
  std::string tag{};
  /// Told about every exception a push handler throws (the message is nacked either way, and
  /// counted in `QueueStats::handler_errors`). Runs on the worker thread; must not throw.
  std::function<void(const Delivery&, std::exception_ptr)> on_error{};
};

/// One consumer of one queue. Competing consumers of the same queue share its messages; each
/// message is delivered to one consumer at a time.
///
/// Pull: `receive` from any number of threads. Push: `run(handler)` starts `workers` threads
/// that receive and call the handler; returning normally acks (unless the handler settled the
/// delivery itself), throwing nacks.
///
/// Closing (or destroying) the consumer returns every message it still holds to the queue,
/// with its attempt count kept. Move-only.
class SWITCHYARD_EXPORT Consumer {
 public:
  using Handler = std::function<void(Delivery&)>;

  Consumer() = default;
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  ~Consumer();

  /// Waits up to `timeout` for a delivery (0 or negative: does not wait; Duration::max():
  /// until one comes). `Errc::timed_out` when none came, `Errc::closed` once the consumer,
  /// its queue or the broker is closed. @note threadsafe
  ///
  /// Only on a consumer that outlives the statement (`&`): a temporary consumer —
  /// `broker.consumer("q").receive(5s)` — closes at the end of the statement and takes its
  /// deliveries back, so their `ack()` would be `stale_delivery` and the message redelivered
  /// for ever. Those calls do not compile (the `&&` overloads are deleted); write
  /// `auto consumer = broker.consumer("q"); auto delivery = consumer.receive(5s);` instead.
  /// (A delivery that kept its consumer alive would instead hold messages in flight for as
  /// long as any delivery lived: the compile error costs nothing and keeps close's meaning.)
  [[nodiscard]] Result<Delivery> receive(Duration timeout = Duration{0}) & noexcept;
  Result<Delivery> receive(Duration timeout = Duration{0}) && = delete;  // temporary: see above
  /// Long poll: waits up to `timeout` for the first delivery, then returns at once with it and
  /// whatever else is ready, at most `max` (bounded also by the prefetch window).
  [[nodiscard]] Result<std::vector<Delivery>> receive(std::size_t max, Duration timeout) & noexcept;
  Result<std::vector<Delivery>> receive(std::size_t max,
                                        Duration timeout) && = delete;  // temporary: see above
  /// The same long poll into a vector the caller keeps: appends to `out` (whose capacity is
  /// reused, so a steady loop allocates nothing) and returns how many were appended.
  [[nodiscard]] Result<std::size_t> receive(std::vector<Delivery>& out, std::size_t max,
                                            Duration timeout) & noexcept;
  Result<std::size_t> receive(std::vector<Delivery>& out, std::size_t max,
                              Duration timeout) && = delete;  // temporary: see above
  /// Acknowledges every delivery in `deliveries` (SQS's DeleteMessageBatch, RabbitMQ's
  /// multiple ack): each is settled as by its own `ack()`, and waiting receives are woken once,
  /// not once per message. All are attempted; the result is the first failure, if any (a
  /// delivery already settled gives `stale_delivery`). Deliveries from other consumers are
  /// acknowledged too. @note threadsafe
  Status ack_all(std::span<Delivery> deliveries) noexcept;

  /// Starts the push workers. Throws `Error(invalid_argument)` if already running (also while
  /// workers stopped from a handler have not been joined by `stop`) or closed.
  void run(Handler handler);
  /// Stops the push workers and waits for them; a handler in progress finishes first.
  /// Held deliveries stay held. Idempotent.
  ///
  /// From inside this consumer's own handler it returns at once, without waiting: the running
  /// handlers finish (and their deliveries are settled as usual), no handler call starts after,
  /// and the workers end. A later `stop`, `close` or the destructor joins them (a worker that
  /// destroys its own consumer is detached and ends when its handler returns).
  void stop() noexcept;
  /// Stops, then returns everything held to the queue. Later receives return `closed`.
  /// From inside this consumer's own handler it returns at once, as `stop` does; the consumer
  /// closes when the last worker ends (the handlers' deliveries are settled first).
  void close() noexcept;

  /// A file descriptor for event loops (epoll, poll, libuv, Boost.Asio — see docs/async.md and
  /// switchyard/asio.hpp): readable when a `receive(0s)` would not block — a message is ready,
  /// or the consumer, its queue or the broker is closed. Level-triggered: it stays readable
  /// until a receive returns `timed_out`; that receive clears it (never `read` it yourself).
  /// It may be readable when nothing is there (a competing consumer took the message, a slot
  /// was freed): the `receive(0s)` then returns `timed_out`, and clears it. So: when it is
  /// readable, receive with timeout 0 until `timed_out`, then wait again. A new fd is readable.
  /// Time alone does not signal it (a delay ending, a visibility timeout taking a delivery
  /// back): wait no longer than `ready_timeout()`. Created on the first call (an eventfd;
  /// nobody pays for it before), owned by the consumer, valid until it is destroyed (remove
  /// it from your loop first); `io_error` if the kernel refuses one. Linux only. @note threadsafe
  [[nodiscard]] Result<int> ready_fd() noexcept;
  /// How long an event loop may wait on `ready_fd()` before it calls `receive(0s)` anyway (as
  /// curl_multi_timeout): until the queue's next timed event, at most the clock's
  /// `max_real_sleep()`; `Duration::max()` when only a send, a settle or a close can make a
  /// message ready. Real time. @note threadsafe
  [[nodiscard]] Duration ready_timeout() const noexcept;
  /// The broker's clock, by which this consumer's timeouts run. @note threadsafe
  [[nodiscard]] const Clock& clock() const noexcept;

  /// Whether push workers run and no stop was asked for. Not to be called while `run` or
  /// `stop` runs on another thread.
  [[nodiscard]] bool running() const noexcept;
  /// Unacknowledged deliveries held now (exact when no receive or settle is in progress).
  [[nodiscard]] std::size_t in_flight() const noexcept;
  [[nodiscard]] const std::string& queue_name() const noexcept;
  /// Its tag (`ConsumerOptions::tag`, or the one the broker made): `PeekedMessage::holder`.
  [[nodiscard]] const std::string& tag() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  Consumer(std::shared_ptr<detail::ConsumerState> state, ConsumerOptions options);

  std::shared_ptr<detail::ConsumerState> state_;
  ConsumerOptions options_;
  [[nodiscard]] bool in_own_handler() const noexcept;
  void join_workers() noexcept;

  std::shared_ptr<detail::PushWorkers> control_;
  std::vector<std::thread> workers_;
};

}  // namespace switchyard
