// switchyard/asio.hpp — Boost.Asio completion-token operations on consumers and group members:
// `async_receive`, `async_poll`, `async_request` (callbacks, `use_future`, `use_awaitable`, any
// token).
//
// Optional and header-only: not included by switchyard.hpp, it needs Boost (Asio, System;
// 1.74 or later; C++20 coroutines for `use_awaitable`). Nothing in the library depends on it.
// Linux only (it waits on the handles' `ready_fd()`, an eventfd). Guide: docs/async.md.
//
//   boost::asio::io_context io;
//   switchyard::asio::async_receive(io.get_executor(), consumer, 5s,
//       [](boost::system::error_code ec, switchyard::Delivery d) { ... });
//   auto f = switchyard::asio::async_receive(io.get_executor(), consumer, 5s, use_future);
//   Delivery d = co_await switchyard::asio::async_receive(consumer, 5s, use_awaitable);
//   Message reply = co_await switchyard::asio::async_request(producer, "rpc", "ping",
//                                                            {.timeout = 5s}, use_awaitable);
//
// How an operation runs (no thread per operation, no thread at all): it tries a
// non-blocking `receive(0s)` / `poll(max, 0s)`; when that finds nothing (which clears and arms
// the handle's readiness fd), it waits, on the executor's reactor, for the fd to turn readable
// or a timer to fire, then tries again — until a result, the timeout, an error or a
// cancellation. The timer is the operation's deadline by the broker's clock, or sooner the
// handle's `ready_timeout()` (time alone can make a message ready, and a manual clock moves
// without a notify): the same wake-ups a blocked receive takes. A waiter thread per operation
// was the alternative; it costs a thread (and a blocked receive) for each pending operation.
// Each waiting operation registers a dup() of the fd with the reactor (so that several
// operations on one handle may be pending on one io_context) and removes it when done: four
// system calls per operation that waits, none for one that finds a message at once.
//
// Completion: `void(boost::system::error_code, Delivery)` for async_receive,
// `void(boost::system::error_code, PollBatch)` for async_poll — the error is an `Errc` in
// `switchyard::asio::error_category()` (`ec == Errc::closed` works), or
// `boost::asio::error::operation_aborted` when cancelled. With `use_future` / `use_awaitable`
// a failure is thrown as `boost::system::system_error`. As for the blocking calls: a receive
// that times out completes with `Errc::timed_out`; a poll that times out completes with an
// empty batch and no error; closing the consumer or member, deleting its destination or
// shutting the broker down completes a pending operation with `Errc::closed`.
//
// Threads and lifetimes: an operation runs on a strand of the I/O executor and completes
// through the handler's associated executor, never inside the initiating call. The consumer or
// member must outlive every operation on it. A `Consumer` is threadsafe, so its operations
// may overlap with each other and with blocking receives; a `GroupConsumer` is
// thread-compatible, so one async_poll at a time and no other call on that member meanwhile
// except from the handler's own thread (`wakeup()` from anywhere).
//
// Cancellation: Boost 1.74 has no per-operation cancellation slots (they came in 1.77), so an
// operation started with a `Cancellation` is cancelled by its `cancel()`: it completes with
// `operation_aborted` and nothing taken (a message is never lost to a cancel: a cancel
// that comes after the message was taken completes the operation with the message).
//
// Building more operations: `async_from_callback` turns any API that reports once through a
// callback taking `Result<T>` into a completion-token operation (so `async_request` over a
// callback form of `Producer::request` is a few lines; docs/async.md, "Adding an operation");
// `detail::initiate_waiting` drives any "try once without blocking, else wait on an fd" source.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>

#include "switchyard/consumer.hpp"
#include "switchyard/delivery.hpp"
#include "switchyard/error.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/message.hpp"
#include "switchyard/producer.hpp"
#include "switchyard/request.hpp"

namespace switchyard {
namespace asio {

/// `Errc` as a Boost.System error category, named "switchyard". One instance per process even
/// across shared libraries (Boost compares categories by this fixed 64-bit id).
class ErrorCategory final : public boost::system::error_category {
 public:
  constexpr ErrorCategory() noexcept : boost::system::error_category(0x5377'6974'6368'7964ULL) {}
  [[nodiscard]] const char* name() const noexcept override { return "switchyard"; }
  [[nodiscard]] std::string message(int value) const override {
    return std::string(to_string(static_cast<Errc>(value)));
  }
};

/// The category of every `Errc` error code. @note threadsafe
inline const boost::system::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

}  // namespace asio

/// `Errc` as a `boost::system::error_code` (found by argument-dependent lookup, so
/// `boost::system::error_code ec = Errc::closed;` and `ec == Errc::closed` work).
inline boost::system::error_code make_error_code(Errc code) noexcept {
  return {static_cast<int>(code), asio::error_category()};
}

}  // namespace switchyard

template <>
struct boost::system::is_error_code_enum<switchyard::Errc> : std::true_type {};

namespace switchyard::asio {

namespace detail {
struct CancellationAccess;
}  // namespace detail

/// Cancels the operations started with it that are still pending: each completes with
/// `boost::asio::error::operation_aborted`. Copies share one state; `cancel()` from any
/// thread. Operations started after a `cancel()` are not affected by it (as asio's
/// cancellation_signal). @note threadsafe
class Cancellation {
 public:
  Cancellation() : state_(std::make_shared<State>()) {}
  void cancel() const {
    std::vector<std::function<void()>> pending;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      for (auto& entry : state_->pending) pending.push_back(entry.second);
    }
    for (auto& abort : pending) abort();
  }

 private:
  friend struct detail::CancellationAccess;
  struct State {
    std::mutex mutex;
    std::uint64_t next_id = 0;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> pending;
  };
  std::shared_ptr<State> state_;
};

namespace detail {

/// The operations' way into a Cancellation's list of pending operations.
struct CancellationAccess {
  static std::uint64_t add(const Cancellation& c, std::function<void()> abort) {
    std::lock_guard<std::mutex> lock(c.state_->mutex);
    const std::uint64_t id = ++c.state_->next_id;
    c.state_->pending.emplace_back(id, std::move(abort));
    return id;
  }
  static void remove(const Cancellation& c, std::uint64_t id) {
    std::lock_guard<std::mutex> lock(c.state_->mutex);
    auto& pending = c.state_->pending;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [id](const auto& entry) { return entry.first == id; }),
                  pending.end());
  }
};

/// A `Source` for `initiate_waiting`: one non-blocking try (a result, or nullopt: nothing
/// yet, which arms `fd()`), what a timeout completes with, and the handle's fd and clocks.
struct ReceiveSource {
  using Value = Delivery;
  Consumer* consumer;

  std::optional<std::pair<boost::system::error_code, Delivery>> try_once() {
    auto got = consumer->receive(Duration{0});
    if (got) return std::pair{boost::system::error_code{}, std::move(*got)};
    if (got.code() == Errc::timed_out) return std::nullopt;
    return std::pair{make_error_code(got.code()), Delivery{}};
  }
  static std::pair<boost::system::error_code, Delivery> timed_out() {
    return {make_error_code(Errc::timed_out), Delivery{}};
  }
  Result<int> fd() { return consumer->ready_fd(); }
  [[nodiscard]] Duration ready_timeout() const { return consumer->ready_timeout(); }
  [[nodiscard]] const Clock& clock() const { return consumer->clock(); }
};

struct PollSource {
  using Value = PollBatch;
  GroupConsumer* member;
  std::size_t max;

  std::optional<std::pair<boost::system::error_code, PollBatch>> try_once() {
    PollBatch batch;
    if (auto s = member->poll(batch, max, Duration{0}); !s) {
      return std::pair{make_error_code(s.code()), PollBatch{}};
    }
    if (batch.empty() && batch.missed().empty()) return std::nullopt;
    return std::pair{boost::system::error_code{}, std::move(batch)};
  }
  static std::pair<boost::system::error_code, PollBatch> timed_out() {
    return {boost::system::error_code{}, PollBatch{}};  // a poll's timeout is not an error
  }
  Result<int> fd() { return member->ready_fd(); }
  [[nodiscard]] Duration ready_timeout() const { return member->ready_timeout(); }
  [[nodiscard]] const Clock& clock() const { return member->clock(); }
};

/// One pending operation: its strand, the fd's reactor registration, the timer, the handler.
/// Shared by the handlers it has outstanding; every member is touched on `strand` only.
template <class Source, class Handler>
class WaitingOp : public std::enable_shared_from_this<WaitingOp<Source, Handler>> {
 public:
  using Value = typename Source::Value;
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  WaitingOp(Source source, Duration timeout, const boost::asio::any_io_executor& io,
            Handler handler, std::shared_ptr<const Cancellation> cancellation)
      : source_(std::move(source)),
        deadline_(switchyard::detail::deadline_after(source_.clock().now(), timeout)),
        strand_(boost::asio::make_strand(io)),
        descriptor_(strand_),
        timer_(strand_),
        handler_(std::move(handler)),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, strand_),
                                  boost::asio::execution::outstanding_work.tracked)),
        cancellation_(std::move(cancellation)) {}
  WaitingOp(const WaitingOp&) = delete;
  WaitingOp& operator=(const WaitingOp&) = delete;
  ~WaitingOp() {
    // Destroyed without completing only with its io_context: the reactor goes too.
    if (descriptor_.is_open()) {
      boost::system::error_code ignored;
      descriptor_.close(ignored);
    }
  }

  /// Never completes inside the initiating call: the first try runs on the strand.
  void start() {
    if (cancellation_) {
      std::weak_ptr<WaitingOp> weak = this->shared_from_this();
      Strand strand = strand_;
      cancel_id_ = CancellationAccess::add(*cancellation_, [weak, strand] {
        boost::asio::post(strand, [weak] {
          if (auto op = weak.lock()) op->abort();
        });
      });
    }
    boost::asio::post(strand_, [self = this->shared_from_this()] { self->step(); });
  }

 private:
  void abort() {
    if (done_) return;
    cancelled_ = true;
    boost::system::error_code ignored;
    descriptor_.cancel(ignored);
    timer_.cancel();
  }

  void step() {
    if (done_) return;
    if (cancelled_) return complete(boost::asio::error::operation_aborted, Value{});
    if (auto got = source_.try_once()) return complete(got->first, std::move(got->second));
    const Clock& clock = source_.clock();
    const TimePoint now = clock.now();
    if (now >= deadline_) {
      auto [ec, value] = Source::timed_out();
      return complete(ec, std::move(value));
    }
    if (!descriptor_.is_open()) {
      auto fd = source_.fd();
      const int copy = fd ? ::dup(*fd) : -1;
      if (copy < 0) return complete(make_error_code(fd ? Errc::io_error : fd.code()), Value{});
      boost::system::error_code ec;
      descriptor_.assign(copy, ec);
      if (ec) {
        ::close(copy);
        return complete(ec, Value{});
      }
    }
    // Wake at the deadline or the handle's next timed event, whichever is first (and at
    // least hourly: steady_clock arithmetic must not overflow).
    Duration wait = std::min<Duration>(deadline_ - now, source_.ready_timeout());
    wait = std::min<Duration>(wait, std::chrono::hours(1));
    timer_.expires_after(wait);
    timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = this->shared_from_this()](boost::system::error_code ec) {
          if (!ec && !self->done_) {
            boost::system::error_code ignored;
            self->descriptor_.cancel(ignored);  // the fd wait ends; step() looks again
          }
        }));
    descriptor_.async_wait(
        boost::asio::posix::descriptor_base::wait_read,
        boost::asio::bind_executor(strand_, [self = this->shared_from_this()](
                                                boost::system::error_code ec) { self->woke(ec); }));
    // The reactor watches the fd edge-triggered: a write that came between the try and the
    // registration of the wait may have been seen by another thread's epoll_wait with no wait
    // queued. Look at the level once, now that the wait is queued.
    pollfd p{descriptor_.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      boost::system::error_code ignored;
      descriptor_.cancel(ignored);
    }
  }

  void woke(boost::system::error_code ec) {
    if (done_) return;
    timer_.cancel();
    if (ec && ec != boost::asio::error::operation_aborted) return complete(ec, Value{});
    step();  // readable, timer, or cancelled (step completes with operation_aborted)
  }

  void complete(boost::system::error_code ec, Value value) {
    done_ = true;
    if (cancellation_) CancellationAccess::remove(*cancellation_, cancel_id_);
    timer_.cancel();
    if (descriptor_.is_open()) {
      // Off the reactor first (epoll keeps a dup registered while the original is open).
      ::close(descriptor_.release());
    }
    boost::asio::dispatch(work_,
                          [handler = std::move(handler_), ec, value = std::move(value)]() mutable {
                            handler(ec, std::move(value));
                          });
  }

  Source source_;
  const TimePoint deadline_;
  Strand strand_;
  boost::asio::posix::stream_descriptor descriptor_;
  boost::asio::steady_timer timer_;
  Handler handler_;
  /// The handler's executor, kept from running out of work while the operation is pending.
  std::decay_t<decltype(boost::asio::prefer(
      std::declval<boost::asio::associated_executor_t<Handler, Strand>>(),
      boost::asio::execution::outstanding_work.tracked))>
      work_;
  std::shared_ptr<const Cancellation> cancellation_;
  std::uint64_t cancel_id_ = 0;
  bool cancelled_ = false;
  bool done_ = false;
};

/// The I/O executor of an operation started without one: the handler's associated executor.
struct AssociatedExecutor {};

/// Starts a WaitingOp over `source` for `token`, with completion signature
/// `void(error_code, Source::Value)`, on `io` (an executor, or AssociatedExecutor). The
/// initiation may run after this returns (use_awaitable runs it at the co_await): it holds
/// copies only.
template <class Io, class Source, class Token>
auto initiate_waiting(Io io, Source source, Duration timeout,
                      std::shared_ptr<const Cancellation> cancellation, Token&& token) {
  using Value = typename Source::Value;
  return boost::asio::async_initiate<Token, void(boost::system::error_code, Value)>(
      [](auto handler, Io io, Source source, Duration timeout,
         std::shared_ptr<const Cancellation> cancellation) {
        using Handler = decltype(handler);
        boost::asio::any_io_executor executor;
        if constexpr (std::is_same_v<Io, AssociatedExecutor>) {
          using Associated = boost::asio::associated_executor_t<Handler>;
          static_assert(std::is_convertible_v<Associated, boost::asio::any_io_executor> &&
                            !std::is_same_v<Associated, boost::asio::system_executor>,
                        "this token has no I/O executor (a plain callback, use_future): pass one "
                        "as the first argument, e.g. async_receive(io.get_executor(), ...)");
          executor = boost::asio::get_associated_executor(handler);
        } else {
          executor = io;
        }
        auto op = std::make_shared<WaitingOp<Source, Handler>>(
            std::move(source), timeout, executor, std::move(handler), std::move(cancellation));
        op->start();
      },
      token, std::move(io), std::move(source), timeout, std::move(cancellation));
}

/// What `async_from_callback` hands the callback API: called once with the `Result<T>`.
/// Copyable (std::function-friendly); later calls are ignored. @note threadsafe
template <class T, class Handler, class WorkExecutor>
class CallbackCompletion {
 public:
  CallbackCompletion(Handler handler, WorkExecutor work)
      : state_(std::make_shared<State>(std::move(handler), std::move(work))) {}
  void operator()(Result<T> result) const {
    std::unique_lock<std::mutex> lock(state_->mutex);
    if (!state_->handler) return;
    Handler handler = std::move(*state_->handler);
    state_->handler.reset();
    lock.unlock();
    // Posted, never run inside the callback: it may come from the initiating call itself
    // (an immediate failure) or from a library thread.
    boost::asio::post(state_->work,
                      [handler = std::move(handler), result = std::move(result)]() mutable {
                        if (result) {
                          handler(boost::system::error_code{}, std::move(*result));
                        } else {
                          handler(make_error_code(result.code()), T{});
                        }
                      });
  }

 private:
  struct State {
    State(Handler h, WorkExecutor w) : handler(std::move(h)), work(std::move(w)) {}
    std::mutex mutex;
    std::optional<Handler> handler;
    WorkExecutor work;  // keeps the handler's executor from running out of work meanwhile
  };
  std::shared_ptr<State> state_;
};

}  // namespace detail

/// Adapts an operation that reports once through a callback taking `Result<T>` to any
/// completion token, with signature `void(error_code, T)`: `start(complete)` starts it and
/// hands it `complete`, a copyable callable the operation calls once, from any thread. The
/// handler then runs through its associated executor (posted, never inside `start` or the
/// callback). The building block of operations over callback APIs (an `async_request` over
/// `Producer::request`'s callback form is this and nothing else; see docs/async.md).
template <class T, class Start, class Token>
auto async_from_callback(Start start, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code, T)>(
      [](auto handler, Start start) {
        using Handler = decltype(handler);
        auto work = boost::asio::prefer(
            boost::asio::get_associated_executor(handler, boost::asio::system_executor()),
            boost::asio::execution::outstanding_work.tracked);
        start(detail::CallbackCompletion<T, Handler, decltype(work)>(std::move(handler),
                                                                     std::move(work)));
      },
      token, std::move(start));
}

/// Receives one delivery from `consumer`, waiting up to `timeout` by the broker's clock
/// (Duration::max(): until one comes). Completes with `(error_code, Delivery)`: no error and
/// the delivery; `Errc::timed_out`; `Errc::closed`; `operation_aborted` when cancelled. The
/// operation's I/O runs on `executor`; the consumer must outlive it.
template <class Executor, class Token>
auto async_receive(const Executor& executor, Consumer& consumer, Duration timeout, Token&& token) {
  return detail::initiate_waiting(boost::asio::any_io_executor(executor),
                                  detail::ReceiveSource{&consumer}, timeout, nullptr,
                                  std::forward<Token>(token));
}
/// The same, cancelled by `cancellation.cancel()` while pending.
template <class Executor, class Token>
auto async_receive(const Executor& executor, Consumer& consumer, Duration timeout,
                   const Cancellation& cancellation, Token&& token) {
  return detail::initiate_waiting(
      boost::asio::any_io_executor(executor), detail::ReceiveSource{&consumer}, timeout,
      std::make_shared<const Cancellation>(cancellation), std::forward<Token>(token));
}
/// The same on the handler's associated executor (a coroutine's with `use_awaitable`, or one
/// given by `bind_executor`); a token without one does not compile (use the overloads above).
template <class Token>
auto async_receive(Consumer& consumer, Duration timeout, Token&& token) {
  return detail::initiate_waiting(detail::AssociatedExecutor{}, detail::ReceiveSource{&consumer},
                                  timeout, nullptr, std::forward<Token>(token));
}

/// Polls up to `max` records from `member`, waiting up to `timeout` by the broker's clock.
/// Completes with `(error_code, PollBatch)`: records (or gaps in `missed()`), or an empty
/// batch and no error at the timeout; `Errc::closed`; `operation_aborted` when cancelled.
/// One async_poll per member at a time (GroupConsumer is thread-compatible).
template <class Executor, class Token>
auto async_poll(const Executor& executor, GroupConsumer& member, std::size_t max, Duration timeout,
                Token&& token) {
  return detail::initiate_waiting(boost::asio::any_io_executor(executor),
                                  detail::PollSource{&member, max}, timeout, nullptr,
                                  std::forward<Token>(token));
}
template <class Executor, class Token>
auto async_poll(const Executor& executor, GroupConsumer& member, std::size_t max, Duration timeout,
                const Cancellation& cancellation, Token&& token) {
  return detail::initiate_waiting(
      boost::asio::any_io_executor(executor), detail::PollSource{&member, max}, timeout,
      std::make_shared<const Cancellation>(cancellation), std::forward<Token>(token));
}
template <class Token>
auto async_poll(GroupConsumer& member, std::size_t max, Duration timeout, Token&& token) {
  return detail::initiate_waiting(detail::AssociatedExecutor{}, detail::PollSource{&member, max},
                                  timeout, nullptr, std::forward<Token>(token));
}

/// Sends a request (switchyard/request.hpp) and completes with its outcome:
/// `void(error_code, Message)` — no error and the reply; or `Errc::timed_out` (no reply within
/// `options.timeout`), `Errc::remote_error` (the responder threw or returned an error),
/// `Errc::unroutable` (no such destination), `Errc::closed` (the producer's last copy went, or
/// the broker shut down) — the outcomes of `Producer::request`, as error codes. Built on its
/// callback form with `async_from_callback`: the handler runs through its associated executor,
/// never inside this call; the work it needs is done by the producer's reply thread, so no
/// I/O executor is needed. `producer` must be alive when the operation is initiated (with
/// `use_awaitable`: when it is awaited); destination and payload are copied.
template <class Token>
auto async_request(Producer& producer, std::string_view destination, std::string_view payload,
                   const RequestOptions& options, Token&& token) {
  return async_from_callback<Message>(
      [&producer, destination = std::string(destination), payload = std::string(payload),
       options](auto complete) {
        producer.request(destination, payload, options, ReplyHandler(std::move(complete)));
      },
      std::forward<Token>(token));
}

}  // namespace switchyard::asio
