// The RabbitMQ fixture (support/rabbitmq_server.hpp) itself: the private server accepts a
// login, a message published to a queue comes back with basic.get, and after stop() and
// start() the server is back on the same port with a durable queue declared before.
//
#include <catch2/catch.hpp>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/rabbitmq_server.hpp"

using switchyard::test::RabbitmqServer;

namespace {

/// A logged-in connection with channel 1 open in confirm mode (publish() returns once the
/// server has the message: for a persistent one to a durable queue, on disk); throws on
/// failure.
class Connection {
 public:
  explicit Connection(const RabbitmqServer& server) : conn_(amqp_new_connection()) {
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
    timeval tv{5, 0};
    int status = amqp_socket_open_noblock(socket, server.host().c_str(), server.port(), &tv);
    if (status != AMQP_STATUS_OK) {
      amqp_destroy_connection(conn_);
      throw std::runtime_error(std::string("connect: ") + amqp_error_string2(status));
    }
    amqp_set_rpc_timeout(conn_, &tv);
    check(amqp_login(conn_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn_, 1);
    check(amqp_get_rpc_reply(conn_), "channel.open");
    amqp_confirm_select(conn_, 1);
    check(amqp_get_rpc_reply(conn_), "confirm.select");
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }

  /// queue.declare; passive: only checks that it exists (throws if not). Returns its
  /// message count.
  std::uint32_t declare(const std::string& queue, bool durable, bool passive = false) {
    amqp_queue_declare_ok_t* ok = amqp_queue_declare(conn_, 1, amqp_cstring_bytes(queue.c_str()),
                                                     passive, durable, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn_), "queue.declare " + queue);
    return ok->message_count;
  }

  void publish(const std::string& queue, const std::string& body, bool persistent) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = persistent ? 2 : 1;
    int status = amqp_basic_publish(conn_, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()),
                                    0, 0, &props, amqp_cstring_bytes(body.c_str()));
    if (status != AMQP_STATUS_OK) {
      throw std::runtime_error(std::string("basic.publish: ") + amqp_error_string2(status));
    }
    // Without the confirm a queue.declare right after may count the queue without it (the
    // first version of this test saw 0 once), and a stop may come before it is stored.
    for (;;) {
      amqp_frame_t frame;
      timeval tv{10, 0};
      status = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
      if (status != AMQP_STATUS_OK) {
        throw std::runtime_error(std::string("waiting for the confirm: ") +
                                 amqp_error_string2(status));
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) return;
      throw std::runtime_error("basic.publish: not confirmed (method " +
                               std::to_string(frame.payload.method.id) + ")");
    }
  }

  /// basic.get with auto-ack: the message's body, or nothing when the queue is empty.
  std::optional<std::string> get(const std::string& queue) {
    amqp_rpc_reply_t reply = amqp_basic_get(conn_, 1, amqp_cstring_bytes(queue.c_str()), 1);
    check(reply, "basic.get " + queue);
    if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return std::nullopt;
    amqp_message_t message;
    check(amqp_read_message(conn_, 1, &message, 0), "read message");
    std::string body(static_cast<const char*>(message.body.bytes), message.body.len);
    amqp_destroy_message(&message);
    return body;
  }

 private:
  static void check(const amqp_rpc_reply_t& reply, const std::string& what) {
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      throw std::runtime_error(what + ": " + amqp_error_string2(reply.library_error));
    }
    throw std::runtime_error(what + ": the server refused (method " +
                             std::to_string(reply.reply.id) + ")");
  }

  amqp_connection_state_t conn_;
};

}  // namespace

TEST_CASE("RabbitmqServer: a private server that survives a restart with its durable queues",
          "[rabbitmq][fixture]") {
  auto began = std::chrono::steady_clock::now();
  RabbitmqServer& server = RabbitmqServer::shared();
  auto first_use = std::chrono::steady_clock::now() - began;
  if (!server.available()) {
    WARN("SKIPPED: rabbitmq-server could not start here, so the RabbitMQ tests do not run: "
         << server.error());
    return;
  }
  std::printf("rabbitmq: port %u, dir %s, started in %lld ms (first shared(): %lld ms)\n",
              unsigned(server.port()), server.directory().c_str(),
              static_cast<long long>(server.last_start_time().count()),
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(first_use).count()));
  CHECK(server.host() == "127.0.0.1");
  CHECK(&server == &RabbitmqServer::shared());

  std::string why;
  CHECK(RabbitmqServer::try_login(server.host(), server.port(), &why));
  INFO(why);

  {
    Connection c(server);
    c.declare("fixture.transient", false);
    c.publish("fixture.transient", "hello", false);
    CHECK(c.get("fixture.transient") == std::optional<std::string>("hello"));
    CHECK(c.get("fixture.transient") == std::nullopt);

    c.declare("fixture.durable", true);
    c.publish("fixture.durable", "kept", true);
    CHECK(c.declare("fixture.durable", true) == 1);
  }

  std::uint16_t port = server.port();
  server.stop();
  CHECK_FALSE(server.available());
  CHECK_FALSE(RabbitmqServer::try_login(server.host(), port));

  bool restarted = server.start();
  INFO(server.error());
  REQUIRE(restarted);
  std::printf("rabbitmq: restarted in %lld ms\n",
              static_cast<long long>(server.last_start_time().count()));
  CHECK(server.port() == port);
  CHECK(RabbitmqServer::try_login(server.host(), server.port()));

  Connection c(server);
  CHECK(c.declare("fixture.durable", true, /*passive=*/true) == 1);
  CHECK(c.get("fixture.durable") == std::optional<std::string>("kept"));
  // A transient queue does not survive a restart: passive declare closes the channel 404.
  CHECK_THROWS(c.declare("fixture.transient", false, /*passive=*/true));
}
