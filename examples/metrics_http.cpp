// metrics_http — serves a broker's metrics to Prometheus over HTTP, with plain POSIX sockets.
//
//   metrics_http [--port N] [--once]
//
// Listens on 127.0.0.1:N (default 9464; 0 picks a free port) and prints the address it bound.
//   GET /metrics      Broker::metrics(): the Prometheus text format (scrape config:
//                     `static_configs: [{targets: ["127.0.0.1:9464"]}]`)
//   GET /stats.json   to_json(Broker::stats()): the same snapshot as JSON
// Every request first moves some traffic through the broker, so the counters change between
// scrapes. With --once it exits after answering one request (what the test does).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <switchyard/switchyard.hpp>

using namespace switchyard;

namespace {

/// Sends all of `data`; false if the peer went away.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// The request's path ("/metrics"), from its request line; empty if it is not a GET we read.
std::string read_request_path(int fd) {
  std::string request;
  char buffer[1024];
  // Up to the blank line that ends the headers, at most 16 KiB.
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16 * 1024) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buffer, static_cast<std::size_t>(n));
  }
  if (request.rfind("GET ", 0) != 0) return {};
  const std::size_t end = request.find(' ', 4);
  if (end == std::string::npos) return {};
  std::string path = request.substr(4, end - 4);
  if (const std::size_t query = path.find('?'); query != std::string::npos) path.resize(query);
  return path;
}

void respond(int fd, std::string_view status, std::string_view type, std::string_view body) {
  const std::string head = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", status,
      type, body.size());
  if (send_all(fd, head)) (void)send_all(fd, body);
}

/// Some traffic of every kind, so that each family has samples that move.
void traffic(Broker& broker, Producer& producer, Consumer& consumer) {
  if (!producer.send("orders", "order", {.key = "customer-7"})) std::fputs("send failed\n", stderr);
  if (!producer.send("jobs", "job")) std::fputs("send failed\n", stderr);
  if (!producer.send("events", "event")) std::fputs("send failed\n", stderr);  // to "jobs" too
  if (auto delivery = consumer.receive(std::chrono::milliseconds(10))) {
    if (!delivery->ack()) std::fputs("ack failed\n", stderr);
  }
  (void)broker.publish("news", "hello");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 9464;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--once") {
      once = true;
    } else if (arg == "--port" && i + 1 < argc) {
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (*end != 0 || value < 0 || value > 65535) {
        fmt::print(stderr, "metrics_http: --port takes 0 to 65535, not '{}'\n", argv[i]);
        return 2;
      }
      port = static_cast<int>(value);
    } else {
      fmt::print(stderr, "usage: metrics_http [--port N] [--once]\n");
      return 2;
    }
  }

  Broker broker;
  broker.declare_queue("jobs");
  broker.declare_queue("audit");
  broker.declare_topic("orders", {.partitions = 3});
  broker.subscribe_queue("orders", "audit");
  broker.declare_exchange("events", ExchangeType::fanout);
  broker.bind("events", "jobs");
  auto member = broker.group_consumer("orders", "billing");
  auto subscription = broker.subscribe("news", [](const Message&) {});
  auto producer = broker.producer();
  auto consumer = broker.consumer("jobs");

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) {
    fmt::print(stderr, "metrics_http: socket: {}\n", std::strerror(errno));
    return 1;
  }
  const int yes = 1;
  (void)::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only: metrics are not public
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 16) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fmt::print(stderr, "metrics_http: cannot listen on 127.0.0.1:{}: {}\n", port,
               std::strerror(errno));
    return 1;
  }
  fmt::print("listening on http://127.0.0.1:{}/metrics\n", ntohs(address.sin_port));
  std::fflush(stdout);

  for (;;) {
    const int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR) continue;
      fmt::print(stderr, "metrics_http: accept: {}\n", std::strerror(errno));
      return 1;
    }
    const std::string path = read_request_path(client);
    traffic(broker, producer, consumer);
    // The group reads on, so its lag moves too (and commits what it read before).
    if (auto batch = member.poll(100); !batch) fmt::print(stderr, "poll: {}\n", batch.message());
    if (!member.commit()) std::fputs("commit failed\n", stderr);
    if (path == "/metrics") {
      respond(client, "200 OK", "text/plain; version=0.0.4; charset=utf-8", broker.metrics());
    } else if (path == "/stats.json") {
      respond(client, "200 OK", "application/json", to_json(broker.stats()));
    } else {
      respond(client, "404 Not Found", "text/plain", "try /metrics or /stats.json\n");
    }
    ::close(client);
    if (once) break;
  }
  ::close(listener);
  return 0;
}
