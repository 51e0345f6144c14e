// switchyard/rabbitmq.hpp — queues and exchanges that live on a RabbitMQ server, through
// rabbitmq-c (CMake target switchyard::rabbitmq, option SWITCHYARD_WITH_RABBITMQ).
//
//   auto rabbit = switchyard::rabbitmq::connect({.host = "rabbit", .port = 5672});
//   broker.declare_queue("jobs", {.dead_letter = "jobs.dlx", .transport = rabbit});
//   producer.send("jobs", payload);           // basic.publish, confirmed by the server
//   auto consumer = broker.consumer("jobs");  // basic.consume, prefetch = QueueOptions::prefetch
//
// The handles keep their types and meanings (switchyard/transport.hpp for the seam); what the
// server cannot carry is `invalid_argument` at declare (docs/rabbitmq.md lists each option).
//
// Connections and threads
// -----------------------
// A rabbitmq-c connection is not thread-safe, so each has one owner:
//  * the *control* connection: declares, binds, purges, deletes and depth (a passive declare),
//    called synchronously from the caller's thread under a mutex; a channel the server closes
//    on an error (406 PRECONDITION_FAILED for a re-declare with other arguments: typed
//    `option_mismatch`) is replaced by a new one.
//  * the *publisher* connection and its thread: `send` (any thread) queues the message and
//    returns; the thread publishes it (mandatory, on a channel in confirm mode) and completes
//    `on_complete` when the server confirms (basic.ack), refuses (basic.nack: `Errc::full`,
//    a queue at x-max-length with reject-publish) or returns it (basic.return: `unroutable`).
//  * one connection and thread per consumer: basic.qos(prefetch) and basic.consume; each
//    delivery goes into the consumer's inbox (queue/remote_queue.hpp), and the consumer's
//    settlements come back to the thread as basic.ack / basic.nack(requeue) / basic.reject.
//    Closing the consumer closes its connection: the server requeues what it had not acked.
// A lost connection fails what it had not confirmed (`io_error`: the message may or may not
// have reached the server) and closes its consumers' inboxes (`closed`); it is not made again
// yet (docs/rabbitmq.md: what is not done).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/transport.hpp"

namespace switchyard::rabbitmq {

/// Where the server is and how to log in (AMQP 0-9-1, PLAIN).
struct RabbitOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  /// How long a connect, a login or a call to the server (declare, bind, purge) may take
  /// before it fails with `timed_out`.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(10);
};

/// Connects to the server (the control and publisher connections). Throws `Error`:
/// `io_error` when it cannot be reached, `unauthorized` when the login is refused,
/// `timed_out` past `request_timeout`.
[[nodiscard]] SWITCHYARD_EXPORT std::shared_ptr<Transport> connect(const RabbitOptions& options);

/// The options an AMQP URI names (RabbitMQ's URI spec), `amqp://user:password@host:port/vhost`,
/// every part optional: what is left out keeps RabbitOptions' default (guest, guest,
/// 127.0.0.1, 5672, "/"). User, password, host and vhost are percent-decoded, so the vhost "/"
/// is `%2F` (`amqp://host/%2F`); an empty vhost (`amqp://host/`, `amqp://host`) is "/", as
/// most clients take it. An IPv6 host is bracketed (`amqp://[::1]:5672`). Throws `Error`
/// `invalid_argument` naming what is wrong: another scheme, `amqps://` (TLS is not supported
/// yet), a bad or out-of-range port, a bad percent-escape, a "/" or "@" that should have been
/// encoded, a query (`?heartbeat=…`: none is supported yet) or a fragment. @note threadsafe
[[nodiscard]] SWITCHYARD_EXPORT RabbitOptions parse_url(std::string_view url);

}  // namespace switchyard::rabbitmq
