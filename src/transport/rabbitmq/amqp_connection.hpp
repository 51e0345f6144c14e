// src/transport/rabbitmq/amqp_connection.hpp — one rabbitmq-c connection, logged in, with one
// channel open: the piece every connection of switchyard::rabbitmq (control, publisher,
// consumer: switchyard/rabbitmq.hpp) is made of.
//
// Not thread-safe (rabbitmq-c is not): each connection has one owner, a mutex or a thread.
// Errors become `Error`s with the codes the seam promises (switchyard/transport.hpp): a
// socket or protocol failure `io_error`, a timeout `timed_out`, a refused login
// `unauthorized`; a method the server answers with a channel.close carries its reply code
// (`server_error`): 406 `option_mismatch`, 404 `unknown_destination`, 403 `unauthorized`,
// others `remote_error`. After a channel error `check` opens a working channel again. With
// `RabbitOptions::tls` the socket is rabbitmq-c's OpenSSL one (a TLS file that cannot be read:
// `invalid_argument`; a failed handshake: `io_error`).
#pragma once

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/error.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/rabbitmq.hpp"

namespace switchyard::detail::rabbitmq {

using ::switchyard::rabbitmq::RabbitOptions;

/// `text` as rabbitmq-c's bytes (borrowed: valid while `text` is).
inline amqp_bytes_t bytes_of(std::string_view text) noexcept {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}
inline std::string_view view_of(amqp_bytes_t bytes) noexcept {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

/// An AMQP field table being built: entries point into `strings` (kept here) and stay valid
/// while the table lives and is not added to.
class Table {
 public:
  Table& add(std::string key, std::string value);
  Table& add(std::string key, std::int64_t value);
  Table& add(std::string key, bool value);
  /// The table to pass to a rabbitmq-c call.
  [[nodiscard]] amqp_table_t get() noexcept;

 private:
  std::deque<std::string> text_;  // keys and string values (a deque: their addresses stay)
  std::vector<amqp_table_entry_t> entries_;
};

/// Headers a delivery or a return carries, as switchyard's string headers: string values as
/// they are, integers and booleans in decimal, others (tables, arrays) left out.
Headers headers_of(const amqp_table_t& table);

class AmqpConnection {
 public:
  static constexpr amqp_channel_t kFirstChannel = 1;

  /// Connects and logs in, and opens a channel; with `heartbeats`, asks for
  /// `options.heartbeat` (else none). Throws `Error` (see the file comment).
  explicit AmqpConnection(const RabbitOptions& options, bool heartbeats = false);
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;
  ~AmqpConnection();  // close(), then frees the connection

  /// Closes the connection (connection.close; the server requeues its unacked deliveries).
  /// Idempotent; the connection is unusable after it.
  void close() noexcept;

  [[nodiscard]] amqp_connection_state_t get() const noexcept { return conn_; }
  [[nodiscard]] amqp_channel_t channel() const noexcept { return channel_; }
  [[nodiscard]] int fd() const noexcept { return amqp_get_sockfd(conn_); }
  /// With heartbeats agreed, how long the owner may wait in poll() before it must let
  /// rabbitmq-c read or write (any call that reads: it sends a heartbeat when one is due and
  /// fails with AMQP_STATUS_HEARTBEAT_TIMEOUT when the server has been silent for two): half
  /// the heartbeat, in milliseconds. -1: no heartbeats, no bound.
  [[nodiscard]] int heartbeat_poll_ms() const noexcept {
    const int seconds = amqp_get_heartbeat(conn_);
    return seconds > 0 ? seconds * 500 : -1;
  }
  /// Frames read but not yet handled (then poll() on fd() would wait for nothing).
  [[nodiscard]] bool buffered() const noexcept {
    return amqp_frames_enqueued(conn_) != 0 || amqp_data_in_buffer(conn_) != 0;
  }

  /// Throws for the reply of the last synchronous method, `what` naming it ("queue.declare
  /// of 'jobs'"). After a server's channel.close, replies close-ok and opens a new channel
  /// first, so the connection stays usable.
  void check(std::string_view what);
  /// Throws `io_error` for a rabbitmq-c status other than AMQP_STATUS_OK.
  static void check_status(int status, std::string_view what);

  /// The code of a server's channel.close reply code (see the file comment).
  [[nodiscard]] static Errc code_of_reply(std::uint16_t reply_code) noexcept;
  /// The server's message for `status` and the method that failed.
  [[nodiscard]] static Error error_of(Errc code, std::string_view what, std::string_view detail);

 private:
  void open_channel();

  RabbitOptions options_;
  amqp_connection_state_t conn_ = nullptr;
  amqp_channel_t channel_ = kFirstChannel;
  bool closed_ = false;
};

}  // namespace switchyard::detail::rabbitmq
