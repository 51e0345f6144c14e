// Notifications with retries and dead letters (examples/email_notifications.cpp): a poison
// address is retried with backoff and dead-lettered; a flaky mail server recovers. Hours of
// backoff run in virtual time, in milliseconds.
#include <catch2/catch.hpp>
#include <switchyard/switchyard.hpp>
#include <switchyard/testing.hpp>
#include <switchyard/testing/catch.hpp>

#include <stdexcept>
#include <string>

using namespace switchyard;
using namespace std::chrono_literals;

TEST_CASE("a bouncing address is dead-lettered after 3 attempts and a flaky send is retried") {
  auto clock = std::make_shared<testing::VirtualClock>();
  auto recorder = std::make_shared<testing::Recorder>(clock);
  Broker broker({.clock = clock, .interceptors = {recorder}});
  broker.declare_queue("email-failed");
  broker.declare_queue("email", {.max_deliveries = 3,
                                 .dead_letter = "email-failed",
                                 .retry_backoff = {.initial = 1min, .multiplier = 10, .max = 1h}});
  int flaky_failures = 0;
  auto sender = broker.consumer("email");
  sender.run([&](Delivery& d) {  // push workers, on their own thread, in virtual time
    const auto to = d.message().payload().as_string();
    if (to == "bounce@example.com") throw std::runtime_error("550 no such user");
    if (to == "flaky@example.com" && flaky_failures++ < 1) throw std::runtime_error("421 busy");
  });
  auto producer = broker.producer();
  REQUIRE(producer.send("email", "bounce@example.com"));
  REQUIRE(producer.send("email", "flaky@example.com"));
  REQUIRE(producer.send("email", "ok@example.com"));

  const TimePoint start = clock->now();
  REQUIRE(recorder->await_dead_lettered("email-failed", 1, 1h));
  REQUIRE(recorder->await_consumed("email", 2, 1h));
  sender.stop();
  // 1 minute, then 10 minutes of backoff before the third and last attempt.
  CHECK(clock->now() - start == 11min);
  auto dead = recorder->dead_lettered("email-failed");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].reason == "max_deliveries");
  CHECK(dead[0].message.payload().as_string() == "bounce@example.com");
}
