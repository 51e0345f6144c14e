// switchyard/interceptor.hpp — hooks on every path a message takes, for tracing and
// correlation ids: send, receive, poll, pub/sub delivery and drop, settlement, redelivery, dead
// letter, expiry, group commit; and one that may refuse a send (fault injection in tests).
#pragma once

#include <cstdint>
#include <string_view>

#include "switchyard/error.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/message.hpp"
#include "switchyard/record.hpp"

namespace switchyard {

class Delivery;

/// Why a queue takes a delivery back without a settlement from its consumer.
enum class Redelivery : std::uint8_t {
  visibility_timeout,  ///< the visibility timeout passed before an ack (SQS)
  consumer_closed,     ///< its consumer closed (or was destroyed) holding it (RabbitMQ)
};

/// Observes (and on send, decorates) every message of a broker. Give them to the broker in
/// `BrokerOptions::interceptors`; they run in that order. Every hook is a no-op by default:
/// override the ones you need. A broker without interceptors pays one branch per event.
///
/// The hooks let a tracing span opened at `on_send` be closed where the message's journey
/// ends. A queue message ends in exactly one of `on_ack`, `on_dead_letter` (which follows
/// `on_reject`, an `on_nack`/`on_redelivery` that reached `max_deliveries`, an overflow, or
/// `on_expire` under `OnExpiry::dead_letter`) or `on_expire` under `OnExpiry::drop`, or stays
/// queued; a consumer's span opened at `on_receive` closes at `on_ack`, `on_nack`,
/// `on_reject` or `on_redelivery` — exactly one of them per delivery. Every hook gets what
/// identifies the message: its destination, the `Message` (id, key, headers with e.g.
/// `traceparent`) and, for queues, the attempt (1 for a first delivery; 0 for a message
/// never delivered).
///
/// Threading: hooks run on the thread doing the work — a sender, a receiving or settling
/// thread, a consumer's visibility scan, a pub/sub dispatch thread — concurrently:
/// implementations must be thread-safe and fast, and must not call back into the broker
/// (some run while the queue moves the message). Arguments are valid only during the call.
/// An exception from a hook is caught and logged (`BrokerOptions::log`, component
/// "interceptor"); the message goes on as if the hook had returned.
class Interceptor {
 public:
  virtual ~Interceptor() = default;

  /// Before a message to `destination` (a queue, topic, exchange or pub/sub channel) is
  /// built: may add or change headers (e.g. set a correlation id when none is present).
  virtual void on_send(std::string_view destination, Headers& headers) {
    (void)destination;
    (void)headers;
  }
  /// After every interceptor's `on_send`, before the message is built: a failure with a code
  /// other than `Errc::ok` refuses the send — the producer's send (`send`, `send_batch`, a typed
  /// send, `forward`) returns it and nothing is enqueued, as when a destination refuses one;
  /// `Broker::publish` throws it as an `Error`. (A transaction builds its messages at commit,
  /// through the same path; `forward` asks with the message's own headers, without `on_send`.)
  /// For fault injection in tests (switchyard/testing/faults.hpp, `SendFaults`); the default
  /// admits every send. An exception from it is logged and the send admitted.
  virtual Failure refuse_send(std::string_view destination, const Headers& headers) {
    (void)destination;
    (void)headers;
    return {};
  }

  /// After a queue delivery is handed to a consumer, before the caller sees it.
  virtual void on_receive(std::string_view queue, const Delivery& delivery) {
    (void)queue;
    (void)delivery;
  }
  /// Once per record a group member's poll returns, before the caller sees the batch.
  virtual void on_poll(std::string_view topic, std::string_view group, const Record& record) {
    (void)topic;
    (void)group;
    (void)record;
  }
  /// On a pub/sub subscription's dispatch thread, just before its handler is called.
  /// `channel` is the channel published on (also for a pattern subscription).
  virtual void on_deliver(std::string_view channel, const Message& message) {
    (void)channel;
    (void)message;
  }
  /// A pub/sub subscription dropped a message published on `channel`: its buffer was full
  /// (`SlowSubscriber::drop`, or `block` past its timeout) or out of memory. On the publisher's
  /// thread; the subscription's handler never sees it (counted in its `dropped`).
  virtual void on_drop(std::string_view channel, const Message& message) {
    (void)channel;
    (void)message;
  }

  /// A delivery of `queue` was acknowledged (`Delivery::ack`, or a push handler returned).
  virtual void on_ack(std::string_view queue, const Message& message, std::uint32_t attempt) {
    (void)queue;
    (void)message;
    (void)attempt;
  }
  /// A delivery was negatively acknowledged to be retried (`Delivery::nack()`, or a push
  /// handler threw). If that was its last attempt, `on_dead_letter` follows.
  virtual void on_nack(std::string_view queue, const Message& message, std::uint32_t attempt) {
    (void)queue;
    (void)message;
    (void)attempt;
  }
  /// A delivery was rejected (`Delivery::reject(reason)`, or `nack(false)` with reason
  /// "rejected"); `on_dead_letter` follows.
  virtual void on_reject(std::string_view queue, const Message& message, std::uint32_t attempt,
                         std::string_view reason) {
    (void)queue;
    (void)message;
    (void)attempt;
    (void)reason;
  }
  /// The queue took a delivery back unsettled, to deliver it again (or, at `max_deliveries`,
  /// to dead-letter it: `on_dead_letter` follows).
  virtual void on_redelivery(std::string_view queue, const Message& message, std::uint32_t attempt,
                             Redelivery why) {
    (void)queue;
    (void)message;
    (void)attempt;
    (void)why;
  }
  /// A message's time to live (its own, or the queue's) ran out in `queue`. It is then
  /// dead-lettered (`on_dead_letter` follows) or dropped, as `QueueOptions::on_expiry` says.
  virtual void on_expire(std::string_view queue, const Message& message, std::uint32_t attempt) {
    (void)queue;
    (void)message;
    (void)attempt;
  }
  /// `queue` gave a message up for `reason` (the dead letter's `x-death-reason`: a reject's
  /// reason, "max_deliveries", "expired", "overflow", "out_of_memory"). `dead_letter_queue` is
  /// the queue it went to, or empty when it was dropped (no dead-letter queue, or that queue
  /// refused it; counted in `QueueStats::dropped`).
  virtual void on_dead_letter(std::string_view queue, const Message& message,
                              std::string_view reason, std::string_view dead_letter_queue) {
    (void)queue;
    (void)message;
    (void)reason;
    (void)dead_letter_queue;
  }

  /// A member of consumer group `group` committed `offset` (the next offset to read) for
  /// `partition` of `topic` (an explicit commit, auto-commit, or the member's commits on close),
  /// once it is stored. Only an offset that changed (or, for a durable topic, was not stored
  /// yet) is reported; a commit refused (`not_owner`) is not. Runs under the group's lock.
  /// In-process topics only: a remote topic's commits (switchyard/transport.hpp) go to its
  /// cluster and are not reported.
  virtual void on_commit(std::string_view topic, std::string_view group, std::uint32_t partition,
                         std::uint64_t offset) {
    (void)topic;
    (void)group;
    (void)partition;
    (void)offset;
  }
};

}  // namespace switchyard
