// benchmarks/amqp_publish_consume.cpp — the amqp_publish_consume family (issue 13): messages
// published with confirms to a RabbitMQ queue and consumed with a basic.ack each, end to end,
// on a private rabbitmq-server this binary starts (tests/support/rabbitmq_server.hpp, on a
// loopback port). An iteration ends when every message was confirmed and consumed.
//
//   amqp_publish_consume_64/switchyard   a switchyard queue on the server (switchyard::rabbitmq):
//   amqp_publish_consume_1k/switchyard   Producer::send with on_complete (the confirm),
//                                        Consumer::receive + Delivery::ack, prefetch kPrefetch
//   amqp_publish_consume_64/rabbitmq_c   rabbitmq-c used directly for the same work: a publisher
//   amqp_publish_consume_1k/rabbitmq_c   connection (its own thread) in confirm mode publishing
//                                        mandatory to the default exchange with no window (as
//                                        switchyard's publisher: everything queued is published,
//                                        confirms read as they come), and a consumer connection
//                                        with the same basic.qos, basic.ack per message
//
// Both queues are declared with the same arguments, non-durable: x-max-length 65536 and
// x-overflow reject-publish (switchyard's default capacity and overflow), no x-max-priority. A
// switchyard queue with default options honours priorities 0-9 and so maps to x-max-priority 9,
// a priority queue on the server (about 40 % more of the server's CPU per message here,
// docs/rabbitmq.md): switchyard's side declares max_priority = 0, the plain queue the peer
// uses. Both sides run on the same server, one family after the other in one run. The peer's
// messages carry delivery-mode 1 and no headers (what a direct user sends); switchyard's carry
// what it always sends (message id, timestamp, priority, its sequence header) — part of what
// is measured. When the server cannot start here, every benchmark of the family is skipped
// with the reason. Built only with switchyard::rabbitmq (SWITCHYARD_WITH_RABBITMQ).
#ifdef SWITCHYARD_BENCH_RABBITMQ
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/resource.h>

#include <switchyard/rabbitmq.hpp>
#include <switchyard/switchyard.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

#include "harness.hpp"
#include "support/rabbitmq_server.hpp"

namespace switchyard_bench {
namespace {

/// Messages per iteration (well under x-max-length: nothing is refused as full).
inline constexpr std::uint64_t kAmqpMessages = 20'000;
/// The consumers' basic.qos prefetch (switchyard's default QueueOptions::prefetch).
inline constexpr std::uint16_t kPrefetch = 256;
/// Real time an iteration may take before the run is abandoned.
inline constexpr std::chrono::seconds kIterationBudget{60};

using switchyard::test::RabbitmqServer;

/// The server, or null after telling `state` why the family is skipped.
RabbitmqServer* server_or_skip(benchmark::State& state) {
  RabbitmqServer& server = RabbitmqServer::shared();
  if (!server.available()) {
    state.SkipWithError(("rabbitmq-server could not start here: " + server.error()).c_str());
    return nullptr;
  }
  return &server;
}

/// CPU time (user + system) of this process's threads and of the server's Erlang VM over the
/// timed parts: the wall clock on this shared 2-vCPU machine moves with whatever else runs, the
/// CPU each side spends per message much less. Reported as client_cpu_us and server_cpu_us per
/// message (the server's at the kernel's tick: 10 ms, summed over the whole run).
class CpuMeter {
 public:
  explicit CpuMeter(const RabbitmqServer& server) {
    std::ifstream pid_file(server.directory() + "/rabbitmq.pid");
    pid_file >> server_pid_;
  }
  void start() {
    client_ -= client_seconds();
    server_ -= server_seconds();
  }
  void stop() {
    client_ += client_seconds();
    server_ += server_seconds();
  }
  void report(benchmark::State& state, std::uint64_t items) const {
    const double n = items == 0 ? 1.0 : static_cast<double>(items);
    state.counters["client_cpu_us"] = client_ * 1e6 / n;
    state.counters["server_cpu_us"] = server_pid_ > 0 ? server_ * 1e6 / n : -1.0;
  }

 private:
  static double client_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
  }
  double server_seconds() const {
    if (server_pid_ <= 0) return 0.0;
    std::ifstream stat("/proc/" + std::to_string(server_pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command (which may hold spaces, so from its closing parenthesis): the
    // 14th and 15th of the line are utime and stime, in clock ticks.
    std::istringstream rest(text.substr(text.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i >= 14) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

  long server_pid_ = 0;
  double client_ = 0, server_ = 0;
};

std::string queue_name(const char* side, std::size_t bytes) {
  static int n = 0;
  return "bench-" + std::string(side) + "-" + std::to_string(bytes) + "-" +
         std::to_string(::getpid()) + "-" + std::to_string(++n);
}

void switchyard_side(benchmark::State& state, std::size_t bytes) {
  RabbitmqServer* server = server_or_skip(state);
  if (server == nullptr) return;
  auto transport = switchyard::rabbitmq::connect({.host = server->host(), .port = server->port()});
  const std::string name = queue_name("switchyard", bytes);
  std::uint64_t items = 0, allocations = 0;
  {
    switchyard::Broker broker;
    // max_priority 0: a plain queue, as the peer's (see the file comment).
    broker.declare_queue(name, {.prefetch = kPrefetch, .max_priority = 0, .transport = transport});
    auto producer = broker.producer();
    auto consumer = broker.consumer(name);
    const std::string payload(bytes, 'x');
    std::atomic<std::uint64_t> confirmed{0}, refused{0};
    switchyard::SendOptions options;
    options.on_complete = [&](const switchyard::Result<switchyard::SendReceipt>& r) {
      (r ? confirmed : refused).fetch_add(1, std::memory_order_release);
    };
    CpuMeter cpu(*server);
    for (auto _ : state) {
      cpu.start();
      const std::uint64_t before = allocation_count();
      const std::uint64_t done_before = confirmed.load(std::memory_order_acquire);
      for (std::uint64_t i = 0; i < kAmqpMessages; ++i) {
        if (!producer.send(name, payload, options)) {
          state.SkipWithError("send failed");
          return;
        }
      }
      const auto deadline = std::chrono::steady_clock::now() + kIterationBudget;
      for (std::uint64_t got = 0; got < kAmqpMessages;) {
        auto delivery = consumer.receive(std::chrono::milliseconds(100));
        if (delivery) {
          if (!delivery->ack()) {
            state.SkipWithError("ack failed");
            return;
          }
          ++got;
        } else if (delivery.failure().code != switchyard::Errc::timed_out ||
                   std::chrono::steady_clock::now() > deadline) {
          state.SkipWithError(("receive: " + delivery.failure().message).c_str());
          return;
        }
      }
      while (confirmed.load(std::memory_order_acquire) - done_before < kAmqpMessages) {
        if (refused.load(std::memory_order_acquire) != 0 ||
            std::chrono::steady_clock::now() > deadline) {
          state.SkipWithError("a send was refused, or not confirmed within the iteration budget");
          return;
        }
        std::this_thread::yield();
      }
      allocations += allocation_count() - before;
      cpu.stop();
      items += kAmqpMessages;
    }
    cpu.report(state, items);
    consumer.close();
    broker.delete_queue(name);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(items * bytes));
  report_throughput(state, items, allocations);
}

// ---- rabbitmq-c, directly ----

/// A logged-in connection with channel 1 open; aborts on failure (the server is up).
amqp_connection_state_t open_connection(const RabbitmqServer& server) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(c);
  if (socket == nullptr || amqp_socket_open(socket, server.host().c_str(), server.port()) != 0) {
    std::abort();
  }
  if (amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type !=
      AMQP_RESPONSE_NORMAL) {
    std::abort();
  }
  amqp_channel_open(c, 1);
  if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) std::abort();
  return c;
}

void close_connection(amqp_connection_state_t c) {
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

/// Reads the confirms the publisher's connection has, counting them into `confirmed` (the
/// highest tag acked: acks may be `multiple`): those already there when `block` is false, at
/// least one (10 s at most) when true. False on a nack, a return, an error or no confirm in time.
bool read_confirms(amqp_connection_state_t c, bool block, std::uint64_t& confirmed) {
  for (bool first = block;; first = false) {
    if (!first && !amqp_data_in_buffer(c) && !amqp_frames_enqueued(c)) {
      pollfd fd{amqp_get_sockfd(c), POLLIN, 0};
      if (::poll(&fd, 1, 0) <= 0) return true;
    }
    amqp_frame_t frame;
    timeval timeout{first ? 10 : 0, 0};
    const int status = amqp_simple_wait_frame_noblock(c, &frame, &timeout);
    if (status == AMQP_STATUS_TIMEOUT) return !first;
    if (status != AMQP_STATUS_OK || frame.frame_type != AMQP_FRAME_METHOD ||
        frame.payload.method.id != AMQP_BASIC_ACK_METHOD) {
      return false;
    }
    const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
    confirmed = std::max<std::uint64_t>(confirmed, ack->delivery_tag);
    amqp_maybe_release_buffers(c);
  }
}

void rabbitmq_c_side(benchmark::State& state, std::size_t bytes) {
  RabbitmqServer* server = server_or_skip(state);
  if (server == nullptr) return;
  const std::string name = queue_name("rabbitmq_c", bytes);
  const amqp_bytes_t queue = amqp_cstring_bytes(name.c_str());
  amqp_connection_state_t publisher = open_connection(*server);
  amqp_connection_state_t consumer = open_connection(*server);
  {
    amqp_table_entry_t entries[2];
    entries[0].key = amqp_cstring_bytes("x-max-length");
    entries[0].value.kind = AMQP_FIELD_KIND_I64;
    entries[0].value.value.i64 = 65'536;
    entries[1].key = amqp_cstring_bytes("x-overflow");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
    const amqp_table_t arguments{2, entries};
    amqp_queue_declare(publisher, 1, queue, 0, 0, 0, 0, arguments);
    if (amqp_get_rpc_reply(publisher).reply_type != AMQP_RESPONSE_NORMAL) std::abort();
  }
  amqp_confirm_select(publisher, 1);
  if (amqp_get_rpc_reply(publisher).reply_type != AMQP_RESPONSE_NORMAL) std::abort();
  amqp_basic_qos(consumer, 1, 0, kPrefetch, 0);
  if (amqp_get_rpc_reply(consumer).reply_type != AMQP_RESPONSE_NORMAL) std::abort();
  amqp_basic_consume(consumer, 1, queue, amqp_empty_bytes, 0, /*no_ack=*/0, 0, amqp_empty_table);
  if (amqp_get_rpc_reply(consumer).reply_type != AMQP_RESPONSE_NORMAL) std::abort();

  const std::string payload(bytes, 'x');
  const amqp_bytes_t body{payload.size(), const_cast<char*>(payload.data())};
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 1;
  std::uint64_t published = 0, confirmed = 0;  // the publisher thread's (joined each iteration)
  std::uint64_t items = 0, allocations = 0;
  CpuMeter cpu(*server);
  for (auto _ : state) {
    cpu.start();
    const std::uint64_t before = allocation_count();
    std::atomic<bool> publisher_ok{true};
    std::thread publishing([&] {
      for (std::uint64_t i = 0; i < kAmqpMessages; ++i) {
        if (amqp_basic_publish(publisher, 1, amqp_empty_bytes, queue, /*mandatory=*/1, 0, &props,
                               body) != AMQP_STATUS_OK ||
            !read_confirms(publisher, false, confirmed)) {
          publisher_ok.store(false);
          return;
        }
        ++published;
      }
      while (confirmed < published) {
        if (!read_confirms(publisher, true, confirmed)) {
          publisher_ok.store(false);
          return;
        }
      }
    });
    const auto deadline = std::chrono::steady_clock::now() + kIterationBudget;
    std::uint64_t got = 0;
    while (got < kAmqpMessages && std::chrono::steady_clock::now() < deadline) {
      amqp_envelope_t envelope;
      timeval timeout{0, 100'000};
      amqp_maybe_release_buffers(consumer);
      const amqp_rpc_reply_t reply = amqp_consume_message(consumer, &envelope, &timeout, 0);
      if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        if (amqp_basic_ack(consumer, 1, envelope.delivery_tag, 0) != AMQP_STATUS_OK) break;
        amqp_destroy_envelope(&envelope);
        ++got;
      } else if (!(reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   reply.library_error == AMQP_STATUS_TIMEOUT)) {
        break;
      }
    }
    publishing.join();
    if (got < kAmqpMessages || !publisher_ok.load()) {
      state.SkipWithError("not every message was confirmed and consumed within the budget");
      break;
    }
    allocations += allocation_count() - before;
    cpu.stop();
    items += got;
  }
  cpu.report(state, items);
  amqp_queue_delete(publisher, 1, queue, 0, 0);
  close_connection(consumer);
  close_connection(publisher);
  state.SetBytesProcessed(static_cast<std::int64_t>(items * bytes));
  report_throughput(state, items, allocations);
}

void switchyard_64(benchmark::State& s) {
  switchyard_side(s, 64);
}
void switchyard_1k(benchmark::State& s) {
  switchyard_side(s, 1024);
}
void rabbitmq_c_64(benchmark::State& s) {
  rabbitmq_c_side(s, 64);
}
void rabbitmq_c_1k(benchmark::State& s) {
  rabbitmq_c_side(s, 1024);
}

SWITCHYARD_BENCHMARK("amqp_publish_consume_64/switchyard", switchyard_64)->Iterations(5);
SWITCHYARD_BENCHMARK("amqp_publish_consume_64/rabbitmq_c", rabbitmq_c_64)->Iterations(5);
SWITCHYARD_BENCHMARK("amqp_publish_consume_1k/switchyard", switchyard_1k)->Iterations(5);
SWITCHYARD_BENCHMARK("amqp_publish_consume_1k/rabbitmq_c", rabbitmq_c_1k)->Iterations(5);

}  // namespace
}  // namespace switchyard_bench
#endif  // SWITCHYARD_BENCH_RABBITMQ
