// A RabbitMQ server that goes away and comes back (switchyard::rabbitmq, against the private
// rabbitmq-server of support/rabbitmq_server.hpp, which stop() and start() restart on the same
// port and data): the transport reconnects, republishes what was not confirmed, and consumers
// resume — nothing whose send was confirmed is lost; a server that stays away fails the sends
// that wait for it with a typed error, and closing returns. Each test case runs in its own
// process (catch_discover_tests), so each restarts its own server.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/rabbitmq_server.hpp"
#include "support/test_support.hpp"
#include "switchyard/rabbitmq.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::test::eventually;
using switchyard::test::RabbitmqServer;

namespace {

/// Whether a test case of this process left the server stopped (ctest runs each case in its
/// own process; a whole run of the binary starts it again for the next case).
bool left_stopped = false;

/// The fixture's server, or null when it could not start here: the test then says so loudly.
RabbitmqServer* server_or_skip() {
  RabbitmqServer& server = RabbitmqServer::shared();
  if (left_stopped) left_stopped = !server.start();
  if (!server.available()) {
    WARN(
        "SKIPPED: rabbitmq-server could not start here, so this RabbitMQ reconnect test did "
        "not run: "
        << server.error());
    return nullptr;
  }
  return &server;
}

/// Options for `server` that reconnect fast (the tests restart it): 50 ms backoff, 500 ms at most.
rabbitmq::RabbitOptions fast_reconnects(const RabbitmqServer& server) {
  rabbitmq::RabbitOptions options{.host = server.host(), .port = server.port()};
  options.reconnect_backoff = 50ms;
  options.reconnect_backoff_max = 500ms;
  return options;
}

RemoteQueueStats stats_of(Broker& broker, const std::string& name) {
  for (auto& s : broker.stats().remote_queues) {
    if (s.name == name) return s;
  }
  FAIL("no remote queue stats for " << name);
  return {};
}

/// The outcome of every send, by its number: filled by the completions (the publisher's
/// thread), read by the test.
struct Outcomes {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<int, Errc> done;  // guarded by mutex
  int ok = 0;                // guarded by mutex
  SendOptions options(int n) {
    SendOptions o;
    o.on_complete = [this, n](const Result<SendReceipt>& r) {
      std::lock_guard lock(mutex);
      done[n] = r.code();
      if (r) ++ok;
      changed.notify_all();
    };
    return o;
  }
  int confirmed() {
    std::lock_guard lock(mutex);
    return ok;
  }
  std::size_t completed() {
    std::lock_guard lock(mutex);
    return done.size();
  }
};

}  // namespace

TEST_CASE(
    "a RabbitMQ server stopped and started mid-flow loses nothing confirmed: the producer "
    "republishes, the consumer resumes, a held delivery is stale and comes back") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  Outcomes outcomes;  // outlives the transport, whose thread completes the sends
  rabbitmq::RabbitOptions options = fast_reconnects(*server);
  options.reconnect_timeout = 120s;  // longer than any restart: no send may fail here
  auto transport = rabbitmq::connect(options);
  Broker broker;
  const std::string name = fmt::format("restart-{}", ::getpid());
  QueueOptions queue_options;  // (not designated: g++ 12 warns maybe-uninitialized on it)
  queue_options.durability = Durability::always;
  queue_options.transport = transport;
  broker.declare_queue(name, queue_options);
  auto producer = broker.producer();

  // One delivery held across the drop.
  REQUIRE(producer.send(name, "held", outcomes.options(-1)));
  auto consumer = broker.consumer(name, {.prefetch = 20});
  auto first = consumer.receive(20s);
  INFO(first.failure().message);
  REQUIRE(first);
  Delivery held = std::move(*first);
  REQUIRE(held.payload().as_string() == "held");

  // The consumer: acks everything else, counting each payload it received.
  std::mutex received_mutex;
  std::map<std::string, int> received;  // guarded by received_mutex
  std::atomic<bool> consuming{true};
  std::atomic<int> consumer_errors{0};
  std::atomic<bool> producing{true};
  // Stops and joins both threads however the test ends (a failed REQUIRE included).
  struct Stop {
    std::atomic<bool>& flag;
    std::thread& thread;
    ~Stop() {
      flag.store(false, std::memory_order_release);
      if (thread.joinable()) thread.join();
    }
  };
  std::thread consumer_thread([&] {
    while (consuming.load(std::memory_order_acquire)) {
      auto d = consumer.receive(50ms);
      if (!d) {
        if (d.failure().code != Errc::timed_out) consumer_errors.fetch_add(1);
        continue;
      }
      {
        std::lock_guard lock(received_mutex);
        ++received[std::string(d->payload().as_string())];
      }
      (void)d->ack();  // an ack lost with the connection: redelivered, counted twice, fine
    }
  });

  Stop stop_consumer{consuming, consumer_thread};
  // The producer: sends continuously, at most 200 unconfirmed at a time.
  std::atomic<int> sent{0};
  std::atomic<int> refused_at_send{0};
  std::thread producer_thread([&] {
    for (int n = 0; producing.load(std::memory_order_acquire); ++n) {
      {
        std::unique_lock lock(outcomes.mutex);
        outcomes.changed.wait_for(lock, 100ms, [&] {
          return static_cast<int>(outcomes.done.size()) + 200 > n + refused_at_send.load();
        });
      }
      if (auto r = producer.send(name, fmt::format("m-{}", n), outcomes.options(n)); !r) {
        refused_at_send.fetch_add(1);
      }
      sent.store(n + 1, std::memory_order_release);
    }
  });
  Stop stop_producer{producing, producer_thread};

  REQUIRE(eventually([&] { return outcomes.confirmed() >= 300; }, 60s));
  server->stop();
  // Both connections notice (the server closes them as it stops).
  CHECK(
      eventually([&] { return stats_of(broker, name).connection == ConnectionState::down; }, 30s));
  const int before_start = sent.load();
  const bool restarted = server->start();
  INFO(server->error());
  REQUIRE(restarted);
  const int confirmed_at_start = outcomes.confirmed();
  REQUIRE(eventually([&] { return outcomes.confirmed() >= confirmed_at_start + 300; }, 60s));
  producing.store(false, std::memory_order_release);
  producer_thread.join();
  const int total = sent.load();
  REQUIRE(eventually(
      [&] { return static_cast<int>(outcomes.completed()) + refused_at_send.load() == total + 1; },
      60s));

  // The held delivery came on the old connection: stale, and the server has it again.
  const Status stale = held.ack();
  CHECK(stale.code() == Errc::stale_delivery);

  std::vector<int> confirmed_sends;
  std::map<Errc, int> failures;
  {
    std::lock_guard lock(outcomes.mutex);
    for (const auto& [n, code] : outcomes.done) {
      if (code == Errc::ok && n >= 0) confirmed_sends.push_back(n);
      if (code != Errc::ok) ++failures[code];
    }
  }
  CHECK(failures.empty());  // reconnect_timeout outlasts the restart: every send confirmed
  CHECK(refused_at_send.load() == 0);
  auto missing = [&] {
    std::lock_guard lock(received_mutex);
    int count = received.count("held") == 0 ? 1 : 0;
    for (int n : confirmed_sends) count += received.count(fmt::format("m-{}", n)) == 0 ? 1 : 0;
    return count;
  };
  CHECK(eventually([&] { return missing() == 0; }, 60s));
  consuming.store(false, std::memory_order_release);
  consumer_thread.join();

  const RemoteQueueStats s = stats_of(broker, name);
  CHECK(s.reconnects >= 1);
  CHECK(s.connection == ConnectionState::up);
  // The same counts in metrics(): the reconnects and republished series of this queue.
  const std::string metrics = broker.metrics();
  const std::string labels =
      fmt::format(R"({{destination="{}",kind="remote queue",transport="rabbitmq"}})", name);
  CHECK_THAT(metrics, Catch::Matchers::Contains(fmt::format(
                          "switchyard_remote_queue_reconnects_total{} {}", labels, s.reconnects)));
  CHECK_THAT(metrics,
             Catch::Matchers::Contains(fmt::format("switchyard_remote_queue_republished_total{} {}",
                                                   labels, s.republished)));
  CHECK(consumer_errors.load() == 0);
  int duplicates = 0;
  for (const auto& [payload, times] : received) duplicates += times - 1;
  const int lost = missing();
  CHECK(lost == 0);
  std::printf(
      "rabbitmq restart: sent %d (%d before the start), confirmed %zu, failed %zu, "
      "republished %llu, reconnects %llu, received %zu distinct (%d duplicates), "
      "lost %d\n",
      total, before_start, confirmed_sends.size(), failures.size(),
      static_cast<unsigned long long>(s.republished), static_cast<unsigned long long>(s.reconnects),
      received.size(), duplicates, lost);
}

TEST_CASE(
    "sends wait for a RabbitMQ server that stays away at most reconnect_timeout, then "
    "fail timed_out, and closing the transport fails the rest closed without hanging") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  rabbitmq::RabbitOptions options = fast_reconnects(*server);
  options.reconnect_backoff_max = 200ms;
  options.reconnect_timeout = 1s;
  Outcomes outcomes;
  const std::string name = fmt::format("away-{}", ::getpid());
  {
    Broker broker;
    QueueOptions queue_options;  // (not designated: g++ 12 warns maybe-uninitialized on it)
    queue_options.transport = rabbitmq::connect(options);
    broker.declare_queue(name, queue_options);
    queue_options.capacity = 2;
    broker.declare_queue(name + "-tight", queue_options);
    auto producer = broker.producer();
    REQUIRE(producer.send(name, "before", outcomes.options(0)));
    REQUIRE(eventually([&] { return outcomes.confirmed() == 1; }, 20s));

    server->stop();
    left_stopped = true;
    REQUIRE(eventually([&] { return stats_of(broker, name).connection == ConnectionState::down; },
                       30s));
    const auto began = std::chrono::steady_clock::now();
    for (int n = 1; n <= 5; ++n) REQUIRE(producer.send(name, "while away", outcomes.options(n)));
    // A queue of capacity 2 takes two sends while the server is away, and refuses the third.
    REQUIRE(producer.send(name + "-tight", "1", outcomes.options(101)));
    REQUIRE(producer.send(name + "-tight", "2", outcomes.options(102)));
    auto third = producer.send(name + "-tight", "3", outcomes.options(103));
    CHECK(third.code() == Errc::full);
    // (The refused send's completion ran at once, with the refusal: 1 + 5 + 2 + 1.)
    REQUIRE(eventually([&] { return outcomes.completed() == 9; }, 20s));
    const auto waited = std::chrono::steady_clock::now() - began;
    CHECK(waited >= 900ms);  // they waited (reconnect_timeout, less the backoff's granularity)
    {
      std::lock_guard lock(outcomes.mutex);
      for (int n : {1, 2, 3, 4, 5, 101, 102}) {
        INFO("send " << n);
        CHECK(outcomes.done[n] == Errc::timed_out);
      }
      CHECK(outcomes.done[103] == Errc::full);
    }
    // Sent now and not yet past reconnect_timeout when the broker and transport close.
    for (int n = 6; n <= 8; ++n) REQUIRE(producer.send(name, "at close", outcomes.options(n)));
    const RemoteQueueStats s = stats_of(broker, name);
    CHECK(s.failed == 5);
    CHECK(s.connection == ConnectionState::down);
    CHECK(s.errors >= 1);
  }  // the broker, its queue and the transport: closed here, with the server still away
  CHECK(outcomes.completed() == 12);
  std::lock_guard lock(outcomes.mutex);
  for (int n = 6; n <= 8; ++n) {
    INFO("send " << n);
    CHECK(outcomes.done[n] == Errc::closed);
  }
}

TEST_CASE("RabbitMQ reconnect and TLS options out of range are invalid_argument at connect") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  auto connect_code = [&](rabbitmq::RabbitOptions o) {
    o.host = server->host();
    o.port = server->port();
    try {
      (void)rabbitmq::connect(o);
      return Errc::ok;
    } catch (const Error& e) {
      INFO(e.what());
      return e.code();
    }
  };
  CHECK(connect_code({.reconnect_backoff = 0ms}) == Errc::invalid_argument);
  CHECK(connect_code({.reconnect_backoff = 2s, .reconnect_backoff_max = 1s}) ==
        Errc::invalid_argument);
  CHECK(connect_code({.reconnect_timeout = -1ms}) == Errc::invalid_argument);
  rabbitmq::RabbitOptions missing_ca;
  missing_ca.tls.enabled = true;
  missing_ca.tls.ca_file = "/nonexistent/switchyard-ca.pem";
  CHECK(connect_code(missing_ca) == Errc::invalid_argument);
  rabbitmq::RabbitOptions cert_without_key;
  cert_without_key.tls.enabled = true;
  cert_without_key.tls.cert_file = "/nonexistent/client.pem";
  CHECK(connect_code(cert_without_key) == Errc::invalid_argument);
  // A TLS handshake with the plain AMQP listener fails as an I/O error, not a hang.
  rabbitmq::RabbitOptions tls_to_plain;
  tls_to_plain.tls.enabled = true;
  tls_to_plain.tls.verify_peer = false;
  tls_to_plain.tls.verify_hostname = false;
  tls_to_plain.request_timeout = 5s;
  const Errc plain = connect_code(tls_to_plain);
  CHECK((plain == Errc::io_error || plain == Errc::timed_out));
  CHECK(connect_code({}) == Errc::ok);
}

TEST_CASE(
    "after a RabbitMQ restart the transport declares its memory queue and its binding "
    "again, and the consumer of that queue resumes on it") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  Outcomes outcomes;  // outlives the transport, whose thread completes the sends
  rabbitmq::RabbitOptions options = fast_reconnects(*server);
  auto transport = rabbitmq::connect(options);
  Broker broker;
  const std::string exchange = fmt::format("redeclare-x-{}", ::getpid());
  const std::string queue = fmt::format("redeclare-q-{}", ::getpid());
  ExchangeOptions exchange_options;
  exchange_options.unroutable = Unroutable::error;  // a missing binding fails the send
  exchange_options.transport = transport;
  broker.declare_exchange(exchange, ExchangeType::direct, exchange_options);
  QueueOptions queue_options;  // a memory queue: the server forgets it, and its binding, on stop
  queue_options.transport = transport;
  broker.declare_queue(queue, queue_options);
  broker.bind(exchange, queue, "k");
  auto consumer = broker.consumer(queue);
  auto producer = broker.producer();
  REQUIRE(producer.publish(exchange, "k", "before", outcomes.options(0)));
  auto before = consumer.receive(20s);
  INFO(before.failure().message);
  REQUIRE(before);
  CHECK(before->payload().as_string() == "before");
  REQUIRE(before->ack());

  server->stop();
  left_stopped = true;
  const bool restarted = server->start();
  INFO(server->error());
  REQUIRE(restarted);
  left_stopped = false;

  // Routed (the binding is back) into the queue (declared again), to the resumed consumer.
  REQUIRE(producer.publish(exchange, "k", "after", outcomes.options(1)));
  REQUIRE(eventually([&] { return outcomes.completed() == 2; }, 30s));
  {
    std::lock_guard lock(outcomes.mutex);
    CHECK(outcomes.done[1] == Errc::ok);
  }
  auto after = consumer.receive(30s);
  INFO(after.failure().message);
  REQUIRE(after);
  CHECK(after->payload().as_string() == "after");
  CHECK(after->ack());
  CHECK(eventually([&] { return stats_of(broker, queue).connection == ConnectionState::up; }, 20s));
  CHECK(stats_of(broker, queue).reconnects >= 1);
}

namespace {

/// A loopback TCP port nobody listens on now (the kernel's choice).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

/// Makes, in `dir`, a CA (`<name>-ca.pem`) and, with `server`, a certificate it signs for
/// 127.0.0.1 (`server.pem`, `server.key`) with the `openssl` command; false if it failed.
bool make_certificates(const std::string& dir, const std::string& name, bool server) {
  std::string script = fmt::format(
      "cd '{0}' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN={1}-ca "
      "-keyout {1}-ca.key -out {1}-ca.pem",
      dir, name);
  if (server) {
    script += fmt::format(
        " && printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\\n' > server.ext"
        " && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
        "-out server.csr && openssl x509 -req -in server.csr -CA {0}-ca.pem -CAkey {0}-ca.key "
        "-CAcreateserial -days 1 -extfile server.ext -out server.pem && chmod 644 server.key",
        name);
  }
  script += " >openssl.log 2>&1";
  return std::system(script.c_str()) == 0;
}

}  // namespace

TEST_CASE(
    "a RabbitMQ transport over TLS publishes and consumes through the server's TLS "
    "listener, and refuses a server its CA does not sign (io_error)") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  Outcomes outcomes;  // outlives the transport, whose thread completes the sends
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: no openssl command here to make certificates, so the TLS test did not run");
    return;
  }
  const std::string dir = server->directory();
  REQUIRE(make_certificates(dir, "test", /*server=*/true));
  REQUIRE(make_certificates(dir, "other", /*server=*/false));
  const std::uint16_t tls_port = free_port();
  REQUIRE(tls_port != 0);
  server->stop();
  left_stopped = true;
  {
    std::ofstream conf(dir + "/rabbitmq.conf", std::ios::app);
    conf << fmt::format(
        "listeners.ssl.default = 127.0.0.1:{}\n"
        "ssl_options.cacertfile = {}/test-ca.pem\n"
        "ssl_options.certfile = {}/server.pem\n"
        "ssl_options.keyfile = {}/server.key\n"
        "ssl_options.verify = verify_none\n"
        "ssl_options.fail_if_no_peer_cert = false\n",
        tls_port, dir, dir, dir);
    REQUIRE(conf.good());
  }
  const bool restarted = server->start();
  INFO(server->error());
  REQUIRE(restarted);
  left_stopped = false;

  rabbitmq::RabbitOptions options{.host = server->host(), .port = tls_port};
  options.tls.enabled = true;
  options.tls.ca_file = dir + "/test-ca.pem";
  std::shared_ptr<Transport> transport;
  try {
    transport = rabbitmq::connect(options);
  } catch (const Error& e) {
    FAIL("TLS connect: " << e.what());
  }
  Broker broker;
  const std::string name = fmt::format("tls-{}", ::getpid());
  QueueOptions queue_options;
  queue_options.transport = transport;
  broker.declare_queue(name, queue_options);
  auto producer = broker.producer();
  REQUIRE(producer.send(name, "over tls", outcomes.options(0)));
  REQUIRE(eventually([&] { return outcomes.completed() == 1; }, 20s));
  {
    std::lock_guard lock(outcomes.mutex);
    CHECK(outcomes.done[0] == Errc::ok);
  }
  auto consumer = broker.consumer(name);
  auto d = consumer.receive(20s);
  INFO(d.failure().message);
  REQUIRE(d);
  CHECK(d->payload().as_string() == "over tls");
  CHECK(d->ack());

  // A CA that did not sign the server's certificate: the handshake fails, typed.
  rabbitmq::RabbitOptions wrong_ca = options;
  wrong_ca.tls.ca_file = dir + "/other-ca.pem";
  try {
    (void)rabbitmq::connect(wrong_ca);
    FAIL("a TLS connect with the wrong CA succeeded");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == Errc::io_error);
  }
}

TEST_CASE(
    "a RabbitMQ server that stops answering but keeps its sockets open is found by the "
    "heartbeat: the connections count as down, and come back when it answers again") {
  RabbitmqServer* server = server_or_skip();
  if (server == nullptr) return;
  Outcomes outcomes;  // outlives the transport, whose thread completes the sends
  rabbitmq::RabbitOptions options = fast_reconnects(*server);
  options.heartbeat = 1s;
  options.request_timeout = 2s;  // a login to the paused server times out, then backs off
  auto transport = rabbitmq::connect(options);
  Broker broker;
  const std::string name = fmt::format("hung-{}", ::getpid());
  broker.declare_queue(name, {.transport = transport});
  auto producer = broker.producer();
  auto consumer = broker.consumer(name);
  REQUIRE(producer.send(name, "before", outcomes.options(0)));
  auto before = consumer.receive(20s);
  REQUIRE(before);
  REQUIRE(before->ack());
  // Idle for several heartbeats: the connections stay up (each side's heartbeats flow).
  const auto idle_until = std::chrono::steady_clock::now() + 3500ms;
  CHECK_FALSE(eventually([&] { return stats_of(broker, name).connection != ConnectionState::up; },
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             idle_until - std::chrono::steady_clock::now())));
  CHECK(stats_of(broker, name).reconnects == 0);

  server->pause();
  struct Resume {
    RabbitmqServer& server;
    ~Resume() { server.resume(); }
  } resume_at_exit{*server};
  // Nothing fails on the socket: only the silence shows, after two heartbeats.
  INFO("last error: " << stats_of(broker, name).last_error);
  REQUIRE(eventually([&] { return stats_of(broker, name).connection == ConnectionState::down; },
                     20s));
  server->resume();
  REQUIRE(eventually([&] { return stats_of(broker, name).connection == ConnectionState::up; },
                     30s));
  REQUIRE(producer.send(name, "after", outcomes.options(1)));
  auto after = consumer.receive(30s);
  INFO(after.failure().message);
  REQUIRE(after);
  CHECK(after->payload().as_string() == "after");
  REQUIRE(after->ack());
  CHECK(stats_of(broker, name).reconnects >= 1);
}
