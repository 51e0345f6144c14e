// Operations: Prometheus exposition and send/receive interceptors.
#include <catch2/catch.hpp>

#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

/// Stamps a correlation id on every send that has none, and records what it saw on receive.
class Correlator : public Interceptor {
 public:
  void on_send(std::string_view destination, Headers& headers) override {
    sends.fetch_add(1);
    if (!headers.contains("correlation-id")) {
      headers = headers.with("correlation-id", "c-" + std::to_string(next.fetch_add(1)));
    }
    last_destination = std::string(destination);
  }
  void on_receive(std::string_view queue, const Delivery& delivery) override {
    receives.fetch_add(1);
    last_seen = std::string(delivery.headers().get("correlation-id"));
    last_queue = std::string(queue);
  }
  std::atomic<int> next{1};
  std::atomic<int> sends{0};
  std::atomic<int> receives{0};
  std::string last_destination;
  std::string last_seen;
  std::string last_queue;
};

}  // namespace

TEST_CASE("an interceptor stamps correlation ids on send and sees them on receive") {
  auto correlator = std::make_shared<Correlator>();
  Broker broker({.interceptors = {correlator}});
  broker.declare_queue("traced");
  auto producer = broker.producer();
  REQUIRE(producer.send("traced", "a"));
  REQUIRE(producer.send("traced", "b", {.headers = {{"correlation-id", "mine"}}}));
  auto c = broker.consumer("traced");
  auto first = c.receive();
  REQUIRE(first);
  CHECK(first->headers().get("correlation-id") == "c-1");
  CHECK(correlator->last_seen == "c-1");
  CHECK(correlator->last_queue == "traced");
  auto second = c.receive();
  REQUIRE(second);
  CHECK(second->headers().get("correlation-id") == "mine");
  CHECK(correlator->sends.load() == 2);
  CHECK(correlator->receives.load() == 2);
  CHECK(correlator->last_destination == "traced");
}

TEST_CASE("metrics expose every queue and exchange in the Prometheus text format") {
  ManualBroker t;
  t.broker.declare_queue("jobs");
  t.broker.declare_queue("we\"ird");
  t.broker.declare_exchange("events", ExchangeType::fanout);
  t.broker.bind("events", "jobs");
  REQUIRE(t.producer.send("events", "x"));
  REQUIRE(t.producer.send("jobs", "y"));
  auto c = t.broker.consumer("jobs");
  REQUIRE(c.receive()->ack());
  auto sub = t.broker.subscribe("ch", [](const Message&) {});
  const std::string text = t.broker.metrics();
  CHECK(text.find("# TYPE switchyard_queue_depth gauge\n") != std::string::npos);
  CHECK(text.find("switchyard_queue_depth{queue=\"jobs\"} 1\n") != std::string::npos);
  CHECK(text.find("switchyard_queue_acked_total{queue=\"jobs\"} 1\n") != std::string::npos);
  CHECK(text.find("switchyard_queue_enqueued_total{queue=\"jobs\"} 2\n") != std::string::npos);
  CHECK(text.find("switchyard_queue_in_flight{queue=\"jobs\"} 0\n") != std::string::npos);
  CHECK(text.find("switchyard_queue_depth{queue=\"we\\\"ird\"} 0\n") != std::string::npos);
  CHECK(text.find("switchyard_exchange_deliveries_total{exchange=\"events\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("switchyard_pubsub_subscriptions 1\n") != std::string::npos);
}

TEST_CASE("metrics expose topics and consumer-group lag") {
  ManualBroker t;
  t.broker.declare_topic("orders", {.partitions = 2});
  auto member = t.broker.group_consumer("orders", "billing", {.start = Start::earliest});
  for (int i = 0; i < 3; ++i) REQUIRE(t.producer.send("orders", "o", {.key = "k"}));
  const std::string text = t.broker.metrics();
  CHECK(text.find("switchyard_topic_appended_total{topic=\"orders\"} 3\n") != std::string::npos);
  CHECK(text.find("switchyard_group_lag{topic=\"orders\",group=\"billing\"} 3\n") !=
        std::string::npos);
}
