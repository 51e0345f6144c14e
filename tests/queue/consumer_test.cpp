// Consumers stopped or closed from inside their own push handler, and one Delivery settled
// from several threads at once.
#include <catch2/catch.hpp>

#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kSettleRounds = 300;
#else
constexpr int kSettleRounds = 3000;
#endif

}  // namespace

TEST_CASE(
    "stop() from a push consumer's own handler returns at once and no handler starts after it") {
  Broker broker;
  auto jobs = broker.declare_queue("jobs");
  auto producer = broker.producer();
  auto c = broker.consumer("jobs");
  std::atomic<int> calls{0};
  std::atomic<bool> stop_returned{false};
  c.run([&](Delivery&) {
    calls.fetch_add(1);
    c.stop();
    stop_returned.store(true);
  });
  for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job"));
  // The handler that stopped its consumer still finishes, and its delivery is acked.
  REQUIRE(eventually([&] { return jobs.stats().acked == 1; }));
  CHECK(stop_returned.load());
  CHECK_FALSE(c.running());
  c.stop();  // joins the worker
  CHECK(calls.load() == 1);
  CHECK(jobs.depth() == 2);
  CHECK(c.in_flight() == 0);
  // Stopped, not closed: the consumer can run again.
  c.run([&](Delivery&) { calls.fetch_add(1); });
  REQUIRE(eventually([&] { return jobs.stats().acked == 3; }));
  c.stop();
  CHECK(calls.load() == 3);
}

TEST_CASE("stop() from handlers on several workers stops every worker after its running handler") {
  Broker broker;
  auto jobs = broker.declare_queue("jobs");
  auto producer = broker.producer();
  constexpr int kMessages = 30;
  constexpr int kWorkers = 3;
  auto c = broker.consumer("jobs", {.workers = kWorkers});
  std::atomic<int> calls{0};
  c.run([&](Delivery&) {
    calls.fetch_add(1);
    c.stop();
  });
  for (int i = 0; i < kMessages; ++i) REQUIRE(producer.send("jobs", "job"));
  REQUIRE(eventually([&] { return jobs.stats().acked >= 1; }));
  c.stop();
  // Each worker may have started one handler before it saw the stop, none after.
  CHECK(calls.load() >= 1);
  CHECK(calls.load() <= kWorkers);
  CHECK(jobs.stats().acked == static_cast<std::uint64_t>(calls.load()));
  CHECK(jobs.depth() == static_cast<std::size_t>(kMessages - calls.load()));
}

TEST_CASE("close() from a push consumer's own handler acks that delivery and then closes") {
  Broker broker;
  auto jobs = broker.declare_queue("jobs");
  auto producer = broker.producer();
  auto c = broker.consumer("jobs");
  std::atomic<int> calls{0};
  c.run([&](Delivery&) {
    calls.fetch_add(1);
    c.close();
  });
  for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job"));
  // The consumer leaves the queue when its last worker ends, after the handler's ack.
  REQUIRE(eventually([&] { return jobs.stats().consumers == 0; }));
  c.stop();
  CHECK(calls.load() == 1);
  const auto s = jobs.stats();
  CHECK(s.acked == 1);
  CHECK(s.depth == 2);
  CHECK(s.in_flight == 0);
  CHECK(c.receive().code() == Errc::closed);
}

TEST_CASE("a push consumer destroyed from its own handler ends its worker without aborting") {
  Broker broker;
  auto jobs = broker.declare_queue("jobs");
  auto producer = broker.producer();
  std::optional<Consumer> c = broker.consumer("jobs");
  std::atomic<int> calls{0};
  c->run([&](Delivery&) {
    calls.fetch_add(1);
    c.reset();
  });
  for (int i = 0; i < 3; ++i) REQUIRE(producer.send("jobs", "job"));
  REQUIRE(eventually([&] {
    const auto s = jobs.stats();
    return s.consumers == 0 && s.acked == 1;
  }));
  CHECK(calls.load() == 1);
  CHECK(jobs.depth() == 2);
}

TEST_CASE("of several threads settling one delivery at once, exactly one wins") {
  Broker broker;
  auto dlq = broker.declare_queue("dlq");
  auto jobs = broker.declare_queue("jobs", {.dead_letter = "dlq"});
  auto producer = broker.producer();
  auto c = broker.consumer("jobs");
  constexpr int kThreads = 4;
  std::uint64_t acks_won = 0;
  for (int round = 0; round < kSettleRounds; ++round) {
    REQUIRE(producer.send("jobs", "job"));
    auto d = c.receive();
    REQUIRE(d);
    std::latch start(kThreads);
    std::atomic<int> wins{0};
    std::atomic<int> stale{0};
    std::atomic<bool> ack_won{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        const Status status = t % 3 == 0   ? d->ack()
                              : t % 3 == 1 ? d->nack(/*requeue=*/false)
                                           : d->reject("raced");
        if (status) {
          wins.fetch_add(1);
          if (t % 3 == 0) ack_won.store(true);
        } else if (status.code() == Errc::stale_delivery) {
          stale.fetch_add(1);
        }
        (void)d->settled();
      });
    }
    for (auto& thread : threads) thread.join();
    REQUIRE(wins.load() == 1);
    REQUIRE(stale.load() == kThreads - 1);
    REQUIRE(d->settled());
    if (ack_won.load()) ++acks_won;
  }
  const auto s = jobs.stats();
  CHECK(s.in_flight == 0);
  CHECK(s.depth == 0);
  CHECK(s.acked == acks_won);
  CHECK(s.dead_lettered == kSettleRounds - acks_won);
  CHECK(dlq.depth() == kSettleRounds - acks_won);
}
