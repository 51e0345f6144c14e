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
//    settlements come back to the thread as basic.ack / basic.nack(requeue) / basic.reject
//    (the acks of a run of deliveries settled in order as one basic.ack(multiple)).
//    Closing the consumer closes its connection: the server requeues what it had not acked.
//
// Connection loss
// ---------------
// Each connection is made again by its owner, so no connection is ever shared between threads:
//  * the publisher's and each consumer's thread, at once, then after a jittered exponential
//    backoff (`reconnect_backoff`, doubled after each failed attempt up to
//    `reconnect_backoff_max`, each wait drawn from [half, all] of it), until it succeeds or
//    the transport (the consumer) closes. While a connection is down, the destinations it
//    serves report `ConnectionState::down` (`RemoteQueueStats::connection`), and `up` again
//    once it is back (`reconnects` counts each time it came back).
//  * the control connection on the caller's next call (one attempt: `io_error` if the server
//    is still away).
// Before a new publisher or consumer connection publishes or consumes, it declares again what
// the transport declared, in the order it was declared: each queue and exchange with its
// arguments, each binding (a server that restarted has lost its memory queues and their
// bindings); a re-declare the server refuses (another client declared it otherwise) is
// counted in `errors` and skipped.
//  * Publisher: everything published and not yet confirmed is published again on the new
//    connection (`republished`: at-least-once, so a consumer may see a duplicate). A send while
//    the connection is down waits for it — refused with `full` when `capacity` sends of its
//    queue are unconfirmed already —, each at most `reconnect_timeout` from the moment it was
//    found waiting;
//    then its completion fails with `timed_out` (saying whether the server may have it: it had
//    been published once before). Closing the transport while the connection is down fails
//    what is waiting with `closed`. A channel the server closes on an error (a publish to an
//    exchange that was deleted) fails what that channel had not confirmed with the server's
//    code (404: `unknown_destination`) instead: publishing it again would fail again.
//  * Consumer: its `Consumer` stays open; the thread re-issues basic.qos and basic.consume and
//    goes on filling the same inbox. Deliveries the old connection had made are the server's
//    again (it redelivers them): those not yet received are dropped from the inbox, and a held
//    one's ack returns `Errc::stale_delivery` (its nack or reject does nothing). A consumer
//    the server itself ends (its queue deleted: basic.cancel, or a channel error) is closed
//    (`closed`), as before.
// Heartbeats (`RabbitOptions::heartbeat`, 60 s): the publisher's and consumers' threads wait
// at most half a heartbeat for their socket, so rabbitmq-c sends one when it is due, and a
// server silent for two heartbeats (a power cut, a hung VM, a partition that drops packets
// without a reset) loses the connection as a socket error would: reconnect, as above. The
// control connection has none (it idles between calls; a call on a dropped one makes it
// again).
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
  /// The first wait before reconnecting a dropped connection (then doubled, up to
  /// `reconnect_backoff_max`, and jittered: see the header comment). Positive.
  std::chrono::milliseconds reconnect_backoff = std::chrono::milliseconds(100);
  /// At least `reconnect_backoff`.
  std::chrono::milliseconds reconnect_backoff_max = std::chrono::seconds(5);
  /// How long a send may wait for the publisher's connection to come back before its
  /// completion fails with `timed_out`. Not negative (0: sends fail as soon as they wait).
  std::chrono::milliseconds reconnect_timeout = std::chrono::seconds(30);
  /// The AMQP heartbeat the publisher's and the consumers' connections ask for (the server
  /// may lower it; RabbitMQ's own default is 60 s): each sends a heartbeat when it has sent
  /// nothing for this long, and a connection that hears nothing from the server for twice
  /// this long is lost — reconnected as any other (a hung server, a network that drops
  /// everything without a reset: no error would come otherwise). 0: no heartbeats. At most
  /// 65535 s. The control connection (declares, binds) asks for none: it idles between calls.
  std::chrono::seconds heartbeat = std::chrono::seconds(60);
  /// TLS (amqps, usually port 5671), through rabbitmq-c's OpenSSL socket.
  struct Tls {
    bool enabled = false;
    /// PEM file of the certificate authorities that sign the server's certificate; empty:
    /// none (then `verify_peer` fails every server).
    std::string ca_file;
    /// A client certificate and its key (PEM files), for servers that ask for one; both or
    /// neither.
    std::string cert_file;
    std::string key_file;
    bool verify_peer = true;      ///< the server's certificate chains to `ca_file`
    bool verify_hostname = true;  ///< and names `host`
  } tls = {};
};

/// Connects to the server (the control and publisher connections). Throws `Error`:
/// `io_error` when it cannot be reached (or the TLS handshake fails), `unauthorized` when the
/// login is refused, `timed_out` past `request_timeout`, `invalid_argument` for an option out
/// of range or a TLS file that cannot be read.
[[nodiscard]] SWITCHYARD_EXPORT std::shared_ptr<Transport> connect(const RabbitOptions& options);

/// The options an AMQP URI names (RabbitMQ's URI spec), `amqp://user:password@host:port/vhost`,
/// every part optional: what is left out keeps RabbitOptions' default (guest, guest,
/// 127.0.0.1, 5672, "/"). User, password, host and vhost are percent-decoded, so the vhost "/"
/// is `%2F` (`amqp://host/%2F`); an empty vhost (`amqp://host/`, `amqp://host`) is "/", as
/// most clients take it. An IPv6 host is bracketed (`amqp://[::1]:5672`). `amqps://` sets
/// `tls.enabled` and the port 5671 unless one is given; `tls.ca_file` (and a client
/// certificate, if the server asks for one) are the caller's to set. Throws `Error`
/// `invalid_argument` naming what is wrong: another scheme, a bad or out-of-range port, a bad percent-escape, a "/" or "@" that should have been
/// encoded, a query (`?heartbeat=…`: none is supported yet) or a fragment. @note threadsafe
[[nodiscard]] SWITCHYARD_EXPORT RabbitOptions parse_url(std::string_view url);

}  // namespace switchyard::rabbitmq
