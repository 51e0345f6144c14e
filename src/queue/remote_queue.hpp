// src/queue/remote_queue.hpp — the seam that lets a queue's name be "remote": a queue a
// transport (switchyard/transport.hpp; RabbitMQ: switchyard/rabbitmq.hpp) holds, as the
// broker's registry, producers, consumers and the `Queue` handle see it. Its exchange
// counterpart: route/remote_exchange.hpp. Implemented in src/transport/rabbitmq/.
//
// What the core does with one (src/broker/declare.cpp), as for a remote topic
// (transport/remote_topic.hpp): `declare_queue` with a `transport` asks it to `open_queue`,
// which checks the options (typed errors there) and declares the queue on the server; the
// registry keeps it under the name with kind `remote_queue`, so every look-up that wants a
// local queue refuses it by kind, and `Producer::send` reaches `accept` like any
// destination's (a local exchange may route to a remote queue through it too).
// `Broker::consumer` calls `consume`.
//
// Consumers: each gets an *inbox* (InboxSink, queue_state.hpp) — a queue of this process that
// only holds the deliveries the server pushed to that consumer (at most its prefetch) and
// hands every settlement back to the transport. So a consumer of a remote queue is an
// ordinary `Consumer` (receive, run, ack_all, ready_fd, close: one mechanism); only settling
// differs: it reaches the server.
//
// Completions: a remote queue `defers_completion()`: the send returns once the connection has
// the message; `on_complete` fires once the server confirmed it or refused it (a typed error),
// on the transport's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "queue/queue_state.hpp"
#include "route/destination.hpp"
#include "switchyard/error.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/transport.hpp"

namespace switchyard::detail {

class RemoteQueue : public Destination {
 public:
  [[nodiscard]] DestinationKind kind() const noexcept final {
    return DestinationKind::remote_queue;
  }
  /// The transport this queue lives on.
  [[nodiscard]] virtual const Transport& transport() const noexcept = 0;
  /// The options it was declared with.
  [[nodiscard]] virtual const QueueOptions& options() const noexcept = 0;
  /// A new consumer's inbox, filled by the server (up to `prefetch` unsettled deliveries) once
  /// the caller's ConsumerState registers with it. Throws `Error`: `closed` after close,
  /// `io_error` / `timed_out` when the server cannot be reached, `invalid_argument` for a
  /// prefetch the server cannot take (above 65,535).
  [[nodiscard]] virtual std::shared_ptr<QueueState> consume(std::uint32_t prefetch,
                                                            std::string_view tag) = 0;
  /// False once closed (delete, shutdown): sends are refused. @note threadsafe
  [[nodiscard]] virtual bool accepting() const noexcept = 0;
  /// The server's count of ready messages (0 when it cannot be asked). @note threadsafe
  [[nodiscard]] virtual std::size_t depth() const noexcept = 0;
  /// `Queue::stats`: the server's depth and consumer count, this process's counters.
  [[nodiscard]] virtual QueueStats stats() const = 0;
  /// Removes every ready message on the server (queue.purge); how many. @note threadsafe
  virtual std::size_t purge() noexcept = 0;
  [[nodiscard]] virtual RemoteQueueStats remote_stats() const = 0;
  /// Whether a consumer of this process is open (delete_queue's `if_unused`). @note threadsafe
  [[nodiscard]] virtual bool has_consumers() const noexcept = 0;
  /// `Broker::delete_queue`: deletes the queue on the server too (queue.delete), then closes.
  virtual void remove() = 0;
};

}  // namespace switchyard::detail
