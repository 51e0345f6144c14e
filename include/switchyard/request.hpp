// switchyard/request.hpp — request / reply over queues, RabbitMQ's RPC pattern: the requester's
// side (`Producer::request`, with `RequestOptions`) and the answering side (`Responder`).
//
// A request is a message sent to any destination with two headers set, AMQP's properties:
// `reply_to` (the requester's reply queue) and `correlation_id` (which of its requests this
// is). Each requester — a Producer and its copies — has one reply queue, made on its first
// request: exclusive to it, auto-deleted, named by the library (as RabbitMQ's direct reply-to
// and server-named `amq.gen-*` queues are), so no one names or deletes reply queues by hand. A
// reply thread of that producer takes the replies, hands each to the request its correlation id
// names, and ends the requests whose timeout passed. The reply queue is deleted when the
// producer (its last copy) goes away, and closed with the broker.
//
// Outcomes, each typed (`Result<Message>`; the message is the reply, headers and all):
//   * the reply                                      → the reply message
//   * no reply within `timeout` (by the broker's clock) → `Errc::timed_out`; a reply that comes
//     later is dropped and counted (`RequestStats::late_replies`), never handed to another request
//   * the responder threw, or its handler returned an error → `Errc::remote_error`, with its
//     message (the reply carried it in the `x-error` header)
//   * the destination does not exist                 → `Errc::unroutable` (nobody can answer;
//     an exchange that routes nowhere and says so gives the same). A destination nobody consumes
//     gives `timed_out`, as in RabbitMQ.
//   * the broker shuts down, or the producer goes, before the reply → `Errc::closed`
//   * any other refused send (full, invalid, too large) → that send's error
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/clock.hpp"
#include "switchyard/consumer.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/message.hpp"

namespace switchyard {

class Broker;

namespace detail {
struct ResponderCore;
}

namespace headers {
/// On a request: the queue its reply goes to (AMQP's `reply-to` property).
inline constexpr std::string_view reply_to = "reply_to";
/// On a request and its reply: which request of the requester it is (AMQP's `correlation-id`).
inline constexpr std::string_view correlation_id = "correlation_id";
/// On a reply: the responder failed; the value says why ("<errc>: <message>").
inline constexpr std::string_view error = "x-error";
}  // namespace headers

/// How one request is sent and how long its requester waits.
struct RequestOptions {
  /// How long to wait for the reply, by the broker's clock; > 0 (else `invalid_argument`),
  /// Duration::max(): no limit. The request also carries it as its time to live (RabbitMQ's
  /// `expiration`), so a request nobody took in time is not answered after its requester gave up.
  Duration timeout = std::chrono::seconds(30);
  /// Headers of the request (`reply_to` and `correlation_id` are set over any given here).
  Headers headers{};
  /// Routing key for an exchange, partition key for a topic.
  std::string_view key{};
  std::uint8_t priority = 0;
};

/// Called once with a request's outcome (see the file comment).
///
/// Exactly once per request: on the thread that called `request`, before it returns, when the
/// request could not be sent (its send's error, `unroutable`, `invalid_argument`, `closed` for an
/// empty producer); otherwise on the producer's reply thread — with the reply, at the timeout, or
/// with `closed` at shutdown or when the producer goes away (then before its last copy's
/// destructor returns, or, if that runs on the reply thread itself, as the thread ends). Must not
/// throw (an exception is swallowed). It may send and request (not a blocking `request`, which
/// would wait for its own thread: that one returns `invalid_argument` there) — through this
/// producer only while no other thread uses it, as for any Producer.
using ReplyHandler = std::function<void(Result<Message>)>;

/// A requester's counters (exact each; not one atomic snapshot).
struct RequestStats {
  std::uint64_t sent = 0;      ///< requests sent
  std::uint64_t answered = 0;  ///< completed by a reply (an error reply included)
  std::uint64_t timed_out = 0;
  std::uint64_t late_replies = 0;  ///< replies that came after their request ended: dropped
  std::size_t pending = 0;         ///< waiting for their reply now
};

/// What a responder's handler answers: the reply's payload and headers (`correlation_id` is set
/// by the responder).
struct Reply {
  std::string payload;
  Headers headers{};
};

struct ResponderOptions {
  /// Threads that answer requests (a push consumer's workers). ≥ 1.
  std::size_t workers = 1;
  /// Most requests held at once; 0: the queue's `prefetch`.
  std::uint32_t prefetch = 0;
};

/// A responder's counters (exact each; not one atomic snapshot).
struct ResponderStats {
  std::uint64_t answered = 0;      ///< replies sent (error replies included)
  std::uint64_t failed = 0;        ///< of those, error replies (handler threw or returned an error)
  std::uint64_t unanswerable = 0;  ///< requests without `reply_to`: handled, no reply sent
  std::uint64_t replies_dropped = 0;  ///< replies whose send failed (their requester was gone)
};

/// Answers the requests that arrive on a queue: consumes it (a push consumer with `workers`
/// threads), calls the handler with each request, sends its answer to the request's `reply_to`
/// with its `correlation_id`, then acks the request. A handler that throws, or returns an error,
/// sends an error reply (the requester gets `Errc::remote_error` with the message) and the request
/// is acked all the same: it was answered, and a retry would answer it twice. A request without
/// `reply_to` is handled and acked, with no reply. A reply that cannot be sent (the requester is
/// gone) is dropped and counted.
///
/// `Responder r(broker, "rpc", [](const Delivery& d) -> Result<Reply> { return Reply{"pong"}; });`
///
/// The handler runs on the workers, concurrently when `workers` > 1. Closing (or destroying) the
/// responder stops the workers (a handler in progress finishes and its reply is sent first) and
/// returns unanswered requests to the queue. Move-only; `close` and the destructor must not run
/// in the handler.
class SWITCHYARD_EXPORT Responder {
 public:
  using Handler = std::function<Result<Reply>(const Delivery&)>;

  Responder() = default;
  /// Starts answering. Throws as `Broker::consumer(queue)` does (`unknown_destination`,
  /// `locked`, `closed`), or `invalid_argument` for an empty handler or 0 workers.
  Responder(Broker& broker, std::string_view queue, Handler handler, ResponderOptions options = {});
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  ~Responder();

  /// Stops answering (see the class comment). Idempotent.
  void close() noexcept;
  [[nodiscard]] ResponderStats stats() const noexcept;
  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  std::shared_ptr<detail::ResponderCore> core_;
  Consumer consumer_;  // declared after core_: stopped (joined) first
};

}  // namespace switchyard
