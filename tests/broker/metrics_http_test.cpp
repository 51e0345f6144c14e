// examples/metrics_http: started with --once on a free port, it answers one GET /metrics with
// the broker's Prometheus text, then exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

namespace {

/// Sends `request` to 127.0.0.1:`port` and reads the whole answer (the server closes). Each
/// receive gives up after 20 s, so a silent server fails the test instead of hanging it.
std::string fetch(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval limit{20, 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) == 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) FAIL("no answer from metrics_http within 20 s");
    if (n == 0) break;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

}  // namespace

TEST_CASE("the metrics_http example serves the broker's metrics on /metrics") {
#ifndef SWITCHYARD_METRICS_HTTP
  WARN("examples are not built (SWITCHYARD_BUILD_EXAMPLES=OFF): metrics_http not tested");
#else
  FILE* server = ::popen(SWITCHYARD_METRICS_HTTP " --once --port 0", "r");
  REQUIRE(server != nullptr);
  char line[256] = {};
  REQUIRE(std::fgets(line, sizeof line, server) != nullptr);
  int port = 0;
  REQUIRE(std::sscanf(line, "listening on http://127.0.0.1:%d/metrics", &port) == 1);

  const std::string answer = fetch(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const int status = ::pclose(server);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  INFO(answer.substr(0, 400));
  CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(answer.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  const std::size_t body = answer.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  CHECK(answer.find("Content-Length: " + std::to_string(answer.size() - body - 4) + "\r\n") !=
        std::string::npos);
  CHECK(answer.find("switchyard_queue_enqueued_total{queue=\"jobs\"} 2\n") != std::string::npos);
  CHECK(answer.find("# TYPE switchyard_queue_delivery_age_seconds histogram\n") !=
        std::string::npos);
#endif
}
