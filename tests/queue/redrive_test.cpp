// Redrive: Broker::move_messages, SQS's message move task (StartMessageMoveTask). SQS's rules,
// from its API reference, quoted where a test pins one:
//   "DestinationArn: ... If the DestinationArn is not specified, the messages are moved back to
//    the original source queues."
//   "MaxNumberOfMessagesPerSecond: The number of messages to be moved per second."
//   Moves are of dead-letter queue messages; a message keeps its body and attributes.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>

#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

/// Dead-letters each of `payloads` from queue `from` (max_deliveries 1, DLQ "dlq").
void dead_letter_all(Broker& broker, const std::string& from,
                     std::initializer_list<std::string> payloads) {
  auto producer = broker.producer();
  for (const auto& p : payloads)
    REQUIRE(producer.send(from, p, {.headers = {{"kind", p.substr(0, 1)}}}));
  auto consumer = broker.consumer(from);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    auto d = consumer.receive(1s);
    REQUIRE(d);
    REQUIRE(d->reject());
  }
}

std::vector<std::string> drain(Broker& broker, const std::string& queue) {
  std::vector<std::string> out;
  auto consumer = broker.consumer(queue);
  while (auto d = consumer.receive(0s)) {
    out.push_back(text(*d));
    REQUIRE(d->ack());
  }
  return out;
}

}  // namespace

TEST_CASE("without a destination, dead letters move back to the queue they died in (SQS)") {
  Broker broker;
  broker.declare_queue("dlq");
  broker.declare_queue("orders", {.dead_letter = "dlq"});
  broker.declare_queue("emails", {.dead_letter = "dlq"});
  dead_letter_all(broker, "orders", {"o1", "o2"});
  dead_letter_all(broker, "emails", {"e1"});
  // "If the DestinationArn is not specified, the messages are moved back to the original source"
  auto moved = broker.move_messages("dlq");
  REQUIRE(moved);
  CHECK(moved->moved == 3);
  CHECK(moved->failed == 0);
  CHECK(broker.queue("dlq").depth() == 0);
  auto consumer = broker.consumer("orders");
  auto back = consumer.receive(0s);
  REQUIRE(back);
  CHECK(text(*back) == "o1");
  CHECK(back->attempt() == 1);                                      // a fresh start
  CHECK(back->headers().get(headers::death_reason) == "rejected");  // attributes kept
  REQUIRE(back->ack());
  CHECK(drain(broker, "orders") == std::vector<std::string>{"o2"});
  CHECK(drain(broker, "emails") == std::vector<std::string>{"e1"});
}

TEST_CASE("a move to a named queue takes those the filter picks and leaves the rest in order") {
  Broker broker;
  broker.declare_queue("dlq");
  broker.declare_queue("work", {.dead_letter = "dlq"});
  broker.declare_queue("retry");
  dead_letter_all(broker, "work", {"a1", "b1", "a2", "b2"});
  auto moved = broker.move_messages("dlq", {.destination = "retry", .filter = [](const Message& m) {
                                              return m.headers().get("kind") == "a";
                                            }});
  REQUIRE(moved);
  CHECK(moved->moved == 2);
  CHECK(drain(broker, "retry") == std::vector<std::string>{"a1", "a2"});
  CHECK(drain(broker, "dlq") == std::vector<std::string>{"b1", "b2"});
}

TEST_CASE("a refused message stays in the source where it was, and the rest move") {
  Broker broker;
  broker.declare_queue("dlq");
  broker.declare_queue("work", {.dead_letter = "dlq"});
  broker.declare_queue("small", {.capacity = 1});
  dead_letter_all(broker, "work", {"1", "2", "3"});
  auto moved = broker.move_messages("dlq", {.destination = "small"});
  REQUIRE(moved);
  CHECK(moved->moved == 1);
  CHECK(moved->failed == 2);
  CHECK(moved->first_failure.find("full") != std::string::npos);
  CHECK(drain(broker, "dlq") == std::vector<std::string>{"2", "3"});
  CHECK(drain(broker, "small") == std::vector<std::string>{"1"});
}

TEST_CASE("move_messages reports typed errors: unknown queues, the source as destination") {
  Broker broker;
  broker.declare_queue("dlq");
  broker.declare_exchange("x", ExchangeType::direct);
  CHECK(broker.move_messages("nope").code() == Errc::unknown_destination);
  CHECK(broker.move_messages("x").code() == Errc::unknown_destination);
  CHECK(broker.move_messages("dlq", {.destination = "nope"}).code() == Errc::unknown_destination);
  CHECK(broker.move_messages("dlq", {.destination = "dlq"}).code() == Errc::invalid_argument);
  // A message with no x-death-queue (never dead-lettered) has nowhere to go back to.
  auto producer = broker.producer();
  REQUIRE(producer.send("dlq", "stray"));
  auto moved = broker.move_messages("dlq");
  REQUIRE(moved);
  CHECK(moved->failed == 1);
  CHECK(broker.queue("dlq").depth() == 1);
}

TEST_CASE("max_per_second paces a move by the broker's clock (SQS MaxNumberOfMessagesPerSecond)") {
  ManualBroker m;
  m.broker.declare_queue("dlq");
  m.broker.declare_queue("work", {.dead_letter = "dlq"});
  m.broker.declare_queue("retry");
  for (int i = 0; i < 25; ++i) REQUIRE(m.producer.send("dlq", std::to_string(i)));
  const TimePoint started = m.clock->now();
  auto mover = std::async(std::launch::async, [&] {
    return m.broker.move_messages("dlq", {.destination = "retry", .max_per_second = 10});
  });
  // The first run goes at once; each later one waits for its second of the broker's clock.
  REQUIRE(eventually([&] { return m.broker.queue("retry").depth() == 10; }));
  CHECK(m.broker.queue("dlq").depth() == 15);
  m.clock->advance(1s);
  REQUIRE(eventually([&] { return m.broker.queue("retry").depth() == 20; }));
  m.clock->advance(1s);
  REQUIRE(mover.wait_for(20s) == std::future_status::ready);
  auto moved = mover.get();
  REQUIRE(moved);
  CHECK(moved->moved == 25);
  CHECK(m.clock->now() - started == 2s);
}

TEST_CASE("a move between durable queues survives a restart: each message in one queue") {
  ScratchDir dir;
  const QueueOptions durable{.visibility_timeout = 0s, .durability = Durability::always};
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("dlq", durable);
    QueueOptions work = durable;
    work.dead_letter = "dlq";
    broker.declare_queue("work", work);
    dead_letter_all(broker, "work", {"1", "2", "3"});
    auto moved = broker.move_messages("dlq", {.max_messages = 2});
    REQUIRE(moved);
    CHECK(moved->moved == 2);
  }
  Broker broker({.data_dir = dir.path()});
  CHECK(drain(broker, "work") == std::vector<std::string>{"1", "2"});
  CHECK(drain(broker, "dlq") == std::vector<std::string>{"3"});
}

TEST_CASE(
    "a kill -9 in the middle of moves between durable queues leaves each message in "
    "exactly one queue") {
  // The child moves messages one by one while the parent kills it after a random number of
  // moves; after each kill the reopened broker must hold every message once, in dlq or work.
  constexpr int kMessages = 200;
  constexpr int kKills = kSanitizer ? 5 : 20;
  const QueueOptions durable{.visibility_timeout = 0s, .durability = Durability::none};
  std::srand(12345);
  int lost = 0, doubled = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    ScratchDir dir;
    {
      Broker broker({.data_dir = dir.path()});
      broker.declare_queue("dlq", durable);
      QueueOptions work = durable;
      work.dead_letter = "dlq";
      broker.declare_queue("work", work);
      auto producer = broker.producer();
      for (int i = 0; i < kMessages; ++i) {
        REQUIRE(producer.send("dlq", std::to_string(i), {.headers = {{"x-death-queue", "work"}}}));
      }
    }
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      Broker broker({.data_dir = dir.path()});
      for (;;) {
        auto moved = broker.move_messages("dlq", {.max_messages = 1});
        if (!moved || moved->moved == 0) break;
        const char one = 1;
        if (::write(pipe_fds[1], &one, 1) != 1) break;
      }
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    const int wait_for = 1 + std::rand() % (kMessages - 1);
    char byte = 0;
    for (int seen = 0; seen < wait_for && ::read(pipe_fds[0], &byte, 1) == 1; ++seen) {
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(pipe_fds[0]);

    Broker broker({.data_dir = dir.path()});
    std::multiset<std::string> seen;
    for (const auto& p : drain(broker, "dlq")) seen.insert(p);
    for (const auto& p : drain(broker, "work")) seen.insert(p);
    for (int i = 0; i < kMessages; ++i) {
      const auto n = seen.count(std::to_string(i));
      lost += n == 0;
      doubled += n > 1;
    }
  }
  std::printf("figures: redrive kill loop: kills=%d messages=%d lost=%d doubled=%d\n", kKills,
              kMessages, lost, doubled);
  CHECK(lost == 0);
  CHECK(doubled == 0);
}
