#include "transport/rabbitmq/amqp_connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>
#include <sys/time.h>

#include <utility>

namespace switchyard::detail::rabbitmq {

Table& Table::add(std::string key, std::string value) {
  amqp_table_entry_t e{};
  e.key = bytes_of(text_.emplace_back(std::move(key)));
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = bytes_of(text_.emplace_back(std::move(value)));
  entries_.push_back(e);
  return *this;
}

Table& Table::add(std::string key, std::int64_t value) {
  amqp_table_entry_t e{};
  e.key = bytes_of(text_.emplace_back(std::move(key)));
  e.value.kind = AMQP_FIELD_KIND_I64;
  e.value.value.i64 = value;
  entries_.push_back(e);
  return *this;
}

Table& Table::add(std::string key, bool value) {
  amqp_table_entry_t e{};
  e.key = bytes_of(text_.emplace_back(std::move(key)));
  e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  e.value.value.boolean = value ? 1 : 0;
  entries_.push_back(e);
  return *this;
}

amqp_table_t Table::get() noexcept {
  return amqp_table_t{static_cast<int>(entries_.size()),
                      entries_.empty() ? nullptr : entries_.data()};
}

Headers headers_of(const amqp_table_t& table) {
  std::vector<std::pair<std::string, std::string>> list;
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& e = table.entries[i];
    std::string key(view_of(e.key));
    const amqp_field_value_t& v = e.value;
    switch (v.kind) {
      case AMQP_FIELD_KIND_UTF8:
      case AMQP_FIELD_KIND_BYTES:
        list.emplace_back(std::move(key), std::string(view_of(v.value.bytes)));
        break;
      case AMQP_FIELD_KIND_BOOLEAN:
        list.emplace_back(std::move(key), v.value.boolean ? "true" : "false");
        break;
      case AMQP_FIELD_KIND_I8:
        list.emplace_back(std::move(key), std::to_string(v.value.i8));
        break;
      case AMQP_FIELD_KIND_U8:
        list.emplace_back(std::move(key), std::to_string(v.value.u8));
        break;
      case AMQP_FIELD_KIND_I16:
        list.emplace_back(std::move(key), std::to_string(v.value.i16));
        break;
      case AMQP_FIELD_KIND_U16:
        list.emplace_back(std::move(key), std::to_string(v.value.u16));
        break;
      case AMQP_FIELD_KIND_I32:
        list.emplace_back(std::move(key), std::to_string(v.value.i32));
        break;
      case AMQP_FIELD_KIND_U32:
        list.emplace_back(std::move(key), std::to_string(v.value.u32));
        break;
      case AMQP_FIELD_KIND_I64:
        list.emplace_back(std::move(key), std::to_string(v.value.i64));
        break;
      case AMQP_FIELD_KIND_U64:
      case AMQP_FIELD_KIND_TIMESTAMP:
        list.emplace_back(std::move(key), std::to_string(v.value.u64));
        break;
      default:
        break;  // tables (x-death), arrays, floats, decimals, void: not carried as strings
    }
  }
  return Headers(list);
}

namespace {

timeval timeval_of(std::chrono::milliseconds d) noexcept {
  return timeval{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

/// The socket `options` ask for: plain TCP, or TLS with its files and checks. Throws
/// `invalid_argument` for a TLS file that cannot be read (rabbitmq-c reads them here).
amqp_socket_t* socket_for(amqp_connection_state_t conn, const RabbitOptions& options) {
  if (!options.tls.enabled) return amqp_tcp_socket_new(conn);
  const auto& tls = options.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw Error(Errc::invalid_argument,
                "rabbitmq: TLS: a client certificate needs its key, and a key its certificate "
                "(cert_file and key_file: both or neither)");
  }
  amqp_socket_t* socket = amqp_ssl_socket_new(conn);
  if (socket == nullptr) throw Error(Errc::out_of_memory, "a rabbitmq TLS socket");
  if (!tls.ca_file.empty()) {
    const int status = amqp_ssl_socket_set_cacert(socket, tls.ca_file.c_str());
    if (status != AMQP_STATUS_OK) {
      throw Error(Errc::invalid_argument,
                  fmt::format("rabbitmq: TLS: the CA file '{}' cannot be read: {}", tls.ca_file,
                              amqp_error_string2(status)));
    }
  }
  if (!tls.cert_file.empty()) {
    const int status =
        amqp_ssl_socket_set_key(socket, tls.cert_file.c_str(), tls.key_file.c_str());
    if (status != AMQP_STATUS_OK) {
      throw Error(Errc::invalid_argument,
                  fmt::format("rabbitmq: TLS: the client certificate '{}' or its key '{}' "
                              "cannot be read: {}",
                              tls.cert_file, tls.key_file, amqp_error_string2(status)));
    }
  }
  amqp_ssl_socket_set_verify_peer(socket, tls.verify_peer ? 1 : 0);
  amqp_ssl_socket_set_verify_hostname(socket, tls.verify_hostname ? 1 : 0);
  return socket;
}

}  // namespace

Errc AmqpConnection::code_of_reply(std::uint16_t reply_code) noexcept {
  switch (reply_code) {
    case 406:  // PRECONDITION_FAILED: declared before with other arguments
      return Errc::option_mismatch;
    case 404:  // NOT_FOUND
      return Errc::unknown_destination;
    case 403:  // ACCESS_REFUSED
      return Errc::unauthorized;
    case 405:  // RESOURCE_LOCKED: an exclusive queue of another connection
      return Errc::in_use;
    default:
      return Errc::remote_error;
  }
}

AmqpConnection::AmqpConnection(const RabbitOptions& options, bool heartbeats)
    : options_(options) {
  conn_ = amqp_new_connection();
  if (conn_ == nullptr) throw Error(Errc::out_of_memory, "a rabbitmq connection");
  struct Guard {
    amqp_connection_state_t& conn;
    bool done = false;
    ~Guard() {
      if (!done) amqp_destroy_connection(conn);
    }
  } guard{conn_};
  amqp_socket_t* socket = socket_for(conn_, options);
  if (socket == nullptr) throw Error(Errc::out_of_memory, "a rabbitmq socket");
  timeval timeout = timeval_of(options.request_timeout);
  const int opened =
      amqp_socket_open_noblock(socket, options.host.c_str(), options.port, &timeout);
  if (opened != AMQP_STATUS_OK) {
    throw Error(opened == AMQP_STATUS_TIMEOUT ? Errc::timed_out : Errc::io_error,
                fmt::format("rabbitmq: connecting to {}:{}{}: {}", options.host, options.port,
                            options.tls.enabled ? " (TLS)" : "", amqp_error_string2(opened)));
  }
  amqp_set_handshake_timeout(conn_, &timeout);
  amqp_set_rpc_timeout(conn_, &timeout);
  const amqp_rpc_reply_t login =
      amqp_login(conn_, options.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE,
                 heartbeats ? static_cast<int>(options.heartbeat.count()) : 0,
                 AMQP_SASL_METHOD_PLAIN, options.user.c_str(), options.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    const bool refused = login.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION ||
                         (login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                          login.library_error == AMQP_STATUS_CONNECTION_CLOSED);
    throw Error(refused ? Errc::unauthorized : Errc::io_error,
                fmt::format("rabbitmq: logging in to {}:{} vhost '{}' as '{}' failed{}",
                            options.host, options.port, options.vhost, options.user,
                            login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                ? std::string(": ") + amqp_error_string2(login.library_error)
                                : std::string()));
  }
  open_channel();
  guard.done = true;
}

AmqpConnection::~AmqpConnection() {
  if (conn_ == nullptr) return;
  close();
  amqp_destroy_connection(conn_);
}

void AmqpConnection::close() noexcept {
  if (closed_) return;
  closed_ = true;
  // Best effort: a connection already lost fails this, and is destroyed all the same.
  amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
}

void AmqpConnection::open_channel() {
  amqp_channel_open(conn_, channel_);
  check(fmt::format("channel.open {}", channel_));
}

Error AmqpConnection::error_of(Errc code, std::string_view what, std::string_view detail) {
  return Error(code, fmt::format("rabbitmq: {}: {}", what, detail));
}

void AmqpConnection::check_status(int status, std::string_view what) {
  if (status == AMQP_STATUS_OK) return;
  throw error_of(status == AMQP_STATUS_TIMEOUT ? Errc::timed_out : Errc::io_error, what,
                 amqp_error_string2(status));
}

void AmqpConnection::check(std::string_view what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return;
    case AMQP_RESPONSE_NONE:
      throw error_of(Errc::io_error, what, "no reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw error_of(reply.library_error == AMQP_STATUS_TIMEOUT ? Errc::timed_out
                                                                : Errc::io_error,
                     what, amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    const std::uint16_t code = close->reply_code;
    const std::string text(view_of(close->reply_text));
    amqp_channel_close_ok_t ok{};
    amqp_send_method(conn_, channel_, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    // A new channel number: the server may still be closing the old one.
    channel_ = static_cast<amqp_channel_t>(channel_ == 65'535 ? kFirstChannel : channel_ + 1);
    open_channel();
    throw error_of(code_of_reply(code), what, text);
  }
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    throw error_of(Errc::io_error, what,
                   fmt::format("the server closed the connection: {} {}", close->reply_code,
                               view_of(close->reply_text)));
  }
  throw error_of(Errc::remote_error, what, fmt::format("unexpected method {}", reply.reply.id));
}

}  // namespace switchyard::detail::rabbitmq
