// Transactions (switchyard/transaction.hpp): sends, acks and group offset commits applied
// together or not at all — Kafka's consume-transform-produce ("the consumed offsets and the
// produced records commit or abort as a unit"), RabbitMQ's tx.select / tx.commit /
// tx.rollback ("a rollback discards the publishes and acks of the transaction").
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "broker/transaction_log.hpp"
#include "support/figures.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using namespace std::chrono_literals;

namespace {

/// Every message ready in `queue` now, received and left unsettled (returned on close).
std::vector<std::string> contents(Broker& broker, std::string_view queue) {
  auto consumer = broker.consumer(queue, {.prefetch = 1024});
  auto batch = consumer.receive(1024, 0s);
  std::vector<std::string> out;
  if (batch) {
    for (const Delivery& d : *batch) out.emplace_back(d.payload().as_string());
  }
  return out;
}

std::vector<std::string> records_of(Broker& broker, std::string_view topic) {
  auto member = broker.group_consumer(topic, "reader-" + std::to_string(std::rand()),
                                      {.start = Start::earliest});
  auto batch = member.poll(1024, 0s);
  std::vector<std::string> out;
  if (batch) {
    for (const Record& r : *batch) out.emplace_back(r.payload().as_string());
  }
  return out;
}

}  // namespace

TEST_CASE("a committed transaction's sends reach a queue, a topic and an exchange's queue") {
  Broker broker;
  broker.declare_queue("orders");
  broker.declare_queue("audit");
  broker.declare_topic("events");
  broker.declare_exchange("fan", ExchangeType::fanout);
  broker.bind("fan", "audit");
  auto tx = broker.begin();
  REQUIRE(tx.send("orders", "o1"));
  REQUIRE(tx.send("events", "e1", {.key = "k"}));
  REQUIRE(tx.publish("fan", "any", "a1"));
  CHECK(tx.size() == 3);
  auto ids = tx.commit();
  REQUIRE(ids);
  REQUIRE(ids->size() == 3);
  CHECK((*ids)[0] != 0);
  CHECK(contents(broker, "orders") == std::vector<std::string>{"o1"});
  CHECK(records_of(broker, "events") == std::vector<std::string>{"e1"});
  CHECK(contents(broker, "audit") == std::vector<std::string>{"a1"});
  CHECK_FALSE(tx.open());
}

TEST_CASE("consumers never see a send of an uncommitted transaction") {
  Broker broker;
  broker.declare_queue("out");
  auto consumer = broker.consumer("out");
  auto tx = broker.begin();
  REQUIRE(tx.send("out", "pending"));
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  REQUIRE(tx.commit());
  auto d = consumer.receive(1s);
  REQUIRE(d);
  CHECK(d->payload().as_string() == "pending");
}

TEST_CASE("an aborted transaction sends nothing and leaves its deliveries in flight") {
  Broker broker;
  auto in = broker.declare_queue("in");
  broker.declare_queue("out");
  REQUIRE(broker.producer().send("in", "job"));
  auto consumer = broker.consumer("in");
  auto d = consumer.receive(1s);
  REQUIRE(d);
  auto tx = broker.begin();
  REQUIRE(tx.send("out", "result"));
  REQUIRE(tx.ack(*d));
  tx.abort();
  CHECK_FALSE(tx.open());
  CHECK(contents(broker, "out").empty());
  CHECK_FALSE(d->settled());
  CHECK(in.stats().in_flight == 1);  // still held: its lease runs on
  REQUIRE(d->ack());                 // and it is still ours to settle
  CHECK(tx.commit().code() == Errc::closed);
}

TEST_CASE("destroying an open transaction aborts it") {
  Broker broker;
  broker.declare_queue("out");
  {
    auto tx = broker.begin();
    REQUIRE(tx.send("out", "never"));
  }
  CHECK(contents(broker, "out").empty());
}

TEST_CASE("consume, transform, produce: the ack, the offset and the send commit together") {
  Broker broker;
  broker.declare_queue("in");
  broker.declare_queue("out");
  broker.declare_topic("source");
  REQUIRE(broker.producer().send("in", "job"));
  REQUIRE(broker.producer().send("source", "r0"));
  auto consumer = broker.consumer("in");
  auto member = broker.group_consumer("source", "g", {.start = Start::earliest});
  auto batch = member.poll(10, 1s);
  REQUIRE(batch);
  REQUIRE(batch->size() == 1);
  auto d = consumer.receive(1s);
  REQUIRE(d);
  auto tx = broker.begin();
  REQUIRE(tx.send("out", "job+r0"));
  REQUIRE(tx.ack(*d));
  REQUIRE(tx.commit_offset(member, 0, 1));
  CHECK(member.committed(0).value() == 0);  // nothing before the commit
  REQUIRE(tx.commit());
  CHECK(d->settled());
  CHECK(member.committed(0).value() == 1);
  CHECK(contents(broker, "out") == std::vector<std::string>{"job+r0"});
  CHECK(contents(broker, "in").empty());
}

TEST_CASE("a transaction used after its commit is closed") {
  Broker broker;
  broker.declare_queue("out");
  auto tx = broker.begin();
  REQUIRE(tx.commit());
  CHECK(tx.send("out", "late").code() == Errc::closed);
  CHECK(tx.commit().code() == Errc::closed);
  Transaction empty;
  CHECK(empty.send("out", "x").code() == Errc::closed);
}

TEST_CASE("a delivery settled before the commit fails it with stale_delivery and nothing is sent") {
  Broker broker;
  broker.declare_queue("in");
  broker.declare_queue("out");
  REQUIRE(broker.producer().send("in", "job"));
  auto consumer = broker.consumer("in");
  auto d = consumer.receive(1s);
  REQUIRE(d);
  auto tx = broker.begin();
  REQUIRE(tx.send("out", "result"));
  REQUIRE(tx.ack(*d));
  CHECK(tx.ack(*d).code() == Errc::invalid_delivery);  // once per transaction
  REQUIRE(d->nack());                                  // taken back before the commit
  CHECK(tx.commit().code() == Errc::stale_delivery);
  CHECK(contents(broker, "out").empty());
  Delivery none;
  auto tx2 = broker.begin();
  CHECK(tx2.ack(none).code() == Errc::invalid_delivery);
}

TEST_CASE("a delivery whose lease expired before the commit fails it with stale_delivery") {
  ManualBroker m;
  m.broker.declare_queue("in", {.visibility_timeout = 1s});
  m.broker.declare_queue("out");
  REQUIRE(m.broker.producer().send("in", "job"));
  auto consumer = m.broker.consumer("in");
  auto d = consumer.receive(0s);
  REQUIRE(d);
  auto tx = m.broker.begin();
  REQUIRE(tx.send("out", "result"));
  REQUIRE(tx.ack(*d));
  m.clock->advance(2s);
  // Taken back once expired: another receive gets it again (attempt 2).
  auto other = m.broker.consumer("in");
  auto again = other.receive(0s);
  REQUIRE(again);
  CHECK(again->attempt() == 2);
  CHECK(tx.commit().code() == Errc::stale_delivery);
  CHECK(contents(m.broker, "out").empty());
}

TEST_CASE("a destination deleted before the commit fails it and no ack is applied") {
  Broker broker;
  broker.declare_queue("in");
  broker.declare_queue("gone");
  REQUIRE(broker.producer().send("in", "job"));
  auto consumer = broker.consumer("in");
  auto d = consumer.receive(1s);
  REQUIRE(d);
  auto tx = broker.begin();
  REQUIRE(tx.send("gone", "result"));
  REQUIRE(tx.ack(*d));
  broker.delete_queue("gone");
  auto committed = tx.commit();
  CHECK(committed.code() == Errc::unknown_destination);
  CHECK(committed.message().find("gone") != std::string::npos);
  CHECK_FALSE(d->settled());
}

TEST_CASE("an offset of a partition past the log end fails the commit with out_of_range") {
  Broker broker;
  broker.declare_topic("t");
  broker.declare_queue("out");
  auto member = broker.group_consumer("t", "g", {.start = Start::earliest});
  REQUIRE(member.poll(1, 0s));
  auto tx = broker.begin();
  CHECK(tx.commit_offset(member, 7, 0).code() == Errc::out_of_range);
  REQUIRE(tx.send("out", "x"));
  REQUIRE(tx.commit_offset(member, 0, 5));
  CHECK(tx.commit().code() == Errc::out_of_range);
  CHECK(contents(broker, "out").empty());
}

TEST_CASE("a durable transaction's parts survive a restart") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("in", {.durability = Durability::always});
    broker.declare_queue("out", {.durability = Durability::always});
    broker.declare_topic("t", {.durability = Durability::always});
    REQUIRE(broker.producer().send("in", "job"));
    REQUIRE(broker.producer().send("t", "r0"));
    auto consumer = broker.consumer("in");
    auto member = broker.group_consumer("t", "g", {.start = Start::earliest});
    REQUIRE(member.poll(10, 1s));
    auto d = consumer.receive(1s);
    REQUIRE(d);
    auto tx = broker.begin();
    REQUIRE(tx.send("out", "result"));
    REQUIRE(tx.send("t", "r1"));
    REQUIRE(tx.ack(*d));
    REQUIRE(tx.commit_offset(member, 0, 1));
    REQUIRE(tx.commit());
  }
  Broker broker({.data_dir = dir.path()});
  CHECK(contents(broker, "in").empty());
  CHECK(contents(broker, "out") == std::vector<std::string>{"result"});
  CHECK(records_of(broker, "t") == std::vector<std::string>{"r0", "r1"});
  auto member = broker.group_consumer("t", "g");
  CHECK(member.committed(0).value() == 1);
}

// The recovery unit, without a crash: a commit record with no done is what a kill -9 during
// commit leaves; the next open applies it (once), whichever of its parts were applied already.
TEST_CASE("an interrupted commit is applied at the next open, and only once") {
  ScratchDir dir;
  MessageId job = 0, applied = 0;
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("in", {.durability = Durability::always});
    broker.declare_queue("out", {.durability = Durability::always});
    broker.declare_topic("t", {.durability = Durability::always});
    job = broker.producer().send("in", "job").value();
    REQUIRE(broker.producer().send("t", "r0"));
    // One of the transaction's sends was applied before the "crash".
    applied = broker.producer().send("out", "first").value();
  }
  {
    detail::SegmentLogOptions options;
    auto log = detail::TransactionLog::open(dir.path(), options);
    detail::LoggedTransaction tx;
    tx.id = log->next_id();
    detail::LoggedSend first;
    first.destination = "out";
    first.message.id = applied;
    first.message.payload = {std::byte{'f'}};
    detail::LoggedSend second;
    second.destination = "out";
    second.message.id = 1ull << 60;
    const std::string payload = "second";
    for (char c : payload) second.message.payload.push_back(static_cast<std::byte>(c));
    tx.sends = {first, second};
    tx.acks = {{.queue = "in", .message_id = job}};
    tx.offsets = {{.topic = "t", .group = "g", .partition = 0, .offset = 1}};
    REQUIRE(log->write_commit(tx));
  }
  for (int open = 0; open < 2; ++open) {
    INFO("open " << open);
    Broker broker({.data_dir = dir.path()});
    CHECK(contents(broker, "out") == std::vector<std::string>{"first", "second"});
    CHECK(contents(broker, "in").empty());
    CHECK(broker.group_consumer("t", "g").committed(0).value() == 1);
  }
}

TEST_CASE("a transaction record round-trips, and a cut one is corrupt") {
  detail::LoggedTransaction tx;
  tx.id = 42;
  detail::LoggedSend s;
  s.destination = "q";
  s.dedup_id = "d";
  s.partition = 3;
  s.delay_ns = 5;
  s.ttl_ns = 6;
  s.message.id = 7;
  s.message.key = "k";
  s.message.headers = {{"h", "v"}};
  s.message.payload = {std::byte{1}, std::byte{2}};
  tx.sends = {s};
  tx.acks = {{.queue = "in", .message_id = 9}};
  tx.offsets = {{.topic = "t", .group = "g", .partition = 1, .offset = 2}};
  const auto bytes = detail::encode_commit(tx);
  auto decoded = detail::decode_transaction_record(bytes);
  REQUIRE(decoded);
  CHECK(decoded->kind == detail::transaction_record::commit);
  CHECK(decoded->tx == tx);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(detail::decode_transaction_record(std::span(bytes).first(cut)).code() == Errc::corrupt);
  }
  auto done = detail::decode_transaction_record(detail::encode_done(42));
  REQUIRE(done);
  CHECK(done->kind == detail::transaction_record::done);
  CHECK(done->tx.id == 42);
}

namespace {
/// Fails every sync of the transaction log with EIO.
struct FailingTransactionSync : detail::FaultInjector {
  int on_sync(std::string_view path) noexcept override {
    return path.find("transactions") != std::string_view::npos ? EIO : 0;
  }
};
}  // namespace

TEST_CASE("a failed sync of the commit record fails the commit with io_error, nothing applied") {
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  broker.declare_queue("in", {.durability = Durability::none});
  broker.declare_queue("out", {.durability = Durability::none});
  REQUIRE(broker.producer().send("in", "job"));
  auto consumer = broker.consumer("in");
  auto d = consumer.receive(1s);
  REQUIRE(d);
  auto tx = broker.begin();
  REQUIRE(tx.send("out", "result"));
  REQUIRE(tx.ack(*d));
  FailingTransactionSync faults;
  Installed installed(faults);
  CHECK(tx.commit().code() == Errc::io_error);
  CHECK(contents(broker, "out").empty());
  CHECK_FALSE(d->settled());
}

TEST_CASE("concurrent durable commits are each applied exactly once, across log segments") {
  ScratchDir dir;
  constexpr int kThreads = 4;
  const int per_thread = kSanitizer ? 200 : 1000;
  const std::string payload(600, 'x');  // ~1.3 KiB records: the 1 MiB log rolls and is trimmed
  const auto started = std::chrono::steady_clock::now();
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("out", {.durability = Durability::none});
    broker.declare_topic("t", {.partitions = 4, .durability = Durability::none});
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto tx = broker.begin();
          const std::string key = std::to_string(t);
          if (!tx.send("out", payload, {.key = key}) || !tx.send("t", payload, {.key = key}) ||
              !tx.commit()) {
            failures.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(failures.load(std::memory_order_relaxed) == 0);
    CHECK(broker.queue("out").depth() == std::size_t(kThreads * per_thread));
  }
  const double seconds = seconds_since(started);
  print_figures("transaction_concurrent_commits",
                {{"threads", kThreads},
                 {"transactions", kThreads * per_thread},
                 {"tx_per_s", static_cast<double>(kThreads * per_thread) / seconds}});
  Broker broker({.data_dir = dir.path()});
  CHECK(broker.queue("out").depth() == std::size_t(kThreads * per_thread));
  std::uint64_t records = 0;
  const BrokerStats stats = broker.stats();  // kept: the loop reads into it
  for (const auto& p : stats.topics.at(0).partitions) records += p.end_offset;
  CHECK(records == std::uint64_t(kThreads * per_thread));
}
