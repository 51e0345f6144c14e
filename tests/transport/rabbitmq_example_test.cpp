// examples/email_notifications --amqp URL runs the seed's notification flow (topic exchange
// `notifications`, queue `email.send`, dead letters through `notifications-dlx` with routing
// key `email.failed`, prefetch 10, retries) against the private rabbitmq-server the fixture
// starts, ends by itself, and accounts for every message.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>

#include "support/rabbitmq_server.hpp"

using switchyard::test::RabbitmqServer;

namespace {

struct Run {
  int status = -1;  // the example's exit code; -1 when it did not exit normally
  std::string output;
};

/// Runs `command` (stdout and stderr), at most `seconds` (then killed: `timeout`).
Run run(const std::string& command, int seconds) {
  Run r;
  const std::string bounded = fmt::format("timeout --kill-after=10 {} {} 2>&1", seconds, command);
  FILE* pipe = ::popen(bounded.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    r.output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

/// The number on the summary line that begins with `label`; -1 when there is none.
long long figure(const std::string& output, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(output, m, std::regex("\\n  " + label + " +(-?[0-9]+)"))) return -1;
  return std::stoll(m[1].str());
}

}  // namespace

TEST_CASE(
    "the email-notification example runs against a RabbitMQ server and accounts for "
    "every message") {
#ifndef SWITCHYARD_EMAIL_NOTIFICATIONS
  WARN("SKIPPED: the examples are not built (SWITCHYARD_BUILD_EXAMPLES=OFF)");
#else
  RabbitmqServer& server = RabbitmqServer::shared();
  if (!server.available()) {
    WARN("SKIPPED: rabbitmq-server could not start here, so the example did not run: "
         << server.error());
    return;
  }
  const std::string url = fmt::format("amqp://guest:guest@{}:{}/", server.host(), server.port());
  // 2,000 messages: users 13, 113, ... (20 of them) bounce for ever and are dead-lettered; every
  // 7th other one fails once and is retried.
  const Run r = run(fmt::format("{} 2000 --amqp {}", SWITCHYARD_EMAIL_NOTIFICATIONS, url), 120);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains(fmt::format("on RabbitMQ at {}:{}", server.host(), server.port())));
  CHECK_THAT(r.output, Catch::Contains("OK: every message was delivered or dead-lettered"));
  CHECK(figure(r.output, "sent") == 2000);
  CHECK(figure(r.output, "delivered") == 1980);
  CHECK(figure(r.output, "dead-lettered") == 20);
  CHECK(figure(r.output, "retried") >= 1980 / 7);
  CHECK(figure(r.output, "send failures") == 0);
  CHECK(figure(r.output, "lost") == 0);

  // Run again: the example purges what it finds, so a second run starts clean.
  const Run again = run(fmt::format("{} 200 --amqp {}", SWITCHYARD_EMAIL_NOTIFICATIONS, url), 120);
  INFO(again.output);
  CHECK(again.status == 0);
  CHECK(figure(again.output, "dead-lettered") == 2);
  CHECK(figure(again.output, "lost") == 0);
#endif
}

TEST_CASE("the email-notification example refuses a bad AMQP URL with exit code 1 and the reason") {
#ifndef SWITCHYARD_EMAIL_NOTIFICATIONS
  WARN("SKIPPED: the examples are not built (SWITCHYARD_BUILD_EXAMPLES=OFF)");
#else
  const Run r = run(
      fmt::format("{} 10 --amqp 'amqp://guest:guest@127.0.0.1/?heartbeat=10'",
                  SWITCHYARD_EMAIL_NOTIFICATIONS),
      60);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("query parameters are not supported yet"));
#endif
}
