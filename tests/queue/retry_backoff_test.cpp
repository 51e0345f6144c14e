// A queue's retry policy (`Backoff`): exponential (the default), fixed, fixed steps, a list of
// delays, and jitter — one type. The list follows the common "retry schedule" of SQS/Lambda
// redrive and RabbitMQ delayed-retry setups: the n-th retry waits the n-th delay, and every
// retry past the end waits the last one. Jitter is AWS's "full jitter", scaled: the delay is
// drawn from [d·(1 − jitter), d].
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

TEST_CASE("the default backoff is exponential - initial times multiplier per attempt up to max") {
  const Backoff b{.initial = 100ms, .multiplier = 2.0, .max = 1s};
  CHECK(b.after(1) == 100ms);
  CHECK(b.after(2) == 200ms);
  CHECK(b.after(3) == 400ms);
  CHECK(b.after(4) == 800ms);
  CHECK(b.after(5) == 1s);
  CHECK(b.after(40) == 1s);
}

TEST_CASE("a fixed backoff waits the same delay each time - fixed steps add an increment") {
  const Backoff fixed{.initial = 250ms, .multiplier = 1.0};
  CHECK(fixed.after(1) == 250ms);
  CHECK(fixed.after(9) == 250ms);
  const Backoff steps{.initial = 1s, .multiplier = 1.0, .max = 3500ms, .increment = 1s};
  CHECK(steps.after(1) == 1s);
  CHECK(steps.after(2) == 2s);
  CHECK(steps.after(3) == 3s);
  CHECK(steps.after(4) == 3500ms);  // never beyond max
}

TEST_CASE("a list of delays gives the n-th retry the n-th delay - and the last one after it") {
  const Backoff list{.delays = {1s, 5s, 30s}};
  CHECK(list.after(0) == 0s);
  CHECK(list.after(1) == 1s);
  CHECK(list.after(2) == 5s);
  CHECK(list.after(3) == 30s);
  CHECK(list.after(4) == 30s);
  CHECK(list.after(1000) == 30s);
}

TEST_CASE("jitter takes up to its fraction off each delay - the same for a message each time") {
  const Backoff jittered{.initial = 1s, .multiplier = 1.0, .jitter = 0.5};
  std::set<Duration::rep> seen;
  for (std::uint64_t id = 1; id <= 200; ++id) {
    const Duration d = jittered.after(1, id);
    CHECK(d >= 500ms);
    CHECK(d <= 1s);
    CHECK(jittered.after(1, id) == d);  // a hash, not shared random state
    seen.insert(d.count());
  }
  CHECK(seen.size() > 150);  // spread out, not one value
  const Backoff none{.initial = 1s, .multiplier = 1.0};
  CHECK(none.after(1, 7) == 1s);
}

TEST_CASE("a queue retries a nacked message after the listed delays") {
  ManualBroker t;
  t.broker.declare_queue("jobs", {.retry_backoff = {.delays = {10s, 60s}}});
  REQUIRE(t.producer.send("jobs", "flaky"));
  auto c = t.broker.consumer("jobs");
  auto first = c.receive(0s);
  REQUIRE(first);
  REQUIRE(first->nack());
  t.clock->advance(9s);
  CHECK(c.receive(0s).code() == Errc::timed_out);
  t.clock->advance(1s);
  auto second = c.receive(0s);
  REQUIRE(second);
  CHECK(second->attempt() == 2);
  REQUIRE(second->nack());
  t.clock->advance(59s);
  CHECK(c.receive(0s).code() == Errc::timed_out);
  t.clock->advance(1s);
  auto third = c.receive(0s);
  REQUIRE(third);
  CHECK(third->attempt() == 3);
}

TEST_CASE("a backoff outside its ranges is refused at declare") {
  Broker broker;
  auto code = [&](Backoff b) {
    return code_of([&] { broker.declare_queue("q", {.retry_backoff = b}); });
  };
  CHECK(code({.jitter = 1.5}) == Errc::invalid_argument);
  CHECK(code({.jitter = -0.1}) == Errc::invalid_argument);
  CHECK(code({.increment = -1s}) == Errc::invalid_argument);
  CHECK(code({.max = 1s, .delays = {2s}}) == Errc::invalid_argument);
  CHECK(code({.delays = {-1s}}) == Errc::invalid_argument);
  broker.declare_queue("q", {.retry_backoff = {.delays = {1s}}});
  const auto mismatch =
      error_of([&] { broker.declare_queue("q", {.retry_backoff = {.delays = {2s}}}); });
  REQUIRE(mismatch);
  CHECK(mismatch->code() == Errc::option_mismatch);
  CHECK(std::string(mismatch->what()).find("retry_backoff.delays=[1s], asked for [2s]") !=
        std::string::npos);
}

TEST_CASE("a durable queue keeps its whole retry policy across a restart") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("switchyard-backoff-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const QueueOptions options{.retry_backoff = {.initial = 1s,
                                               .multiplier = 1.5,
                                               .max = 1min,
                                               .increment = 2s,
                                               .delays = {1s, 5s, 30s},
                                               .jitter = 0.25},
                             .durability = Durability::none};
  {
    Broker broker({.data_dir = dir});
    broker.declare_queue("jobs", options);
  }
  {
    Broker broker({.data_dir = dir});
    CHECK(broker.queue("jobs").options().retry_backoff == options.retry_backoff);
    broker.declare_queue("jobs", options);  // equal options: a no-op, not a mismatch
  }
  std::filesystem::remove_all(dir);
}
