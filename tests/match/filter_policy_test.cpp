// SNS subscription filter policies (attribute-based), checked against the examples of AWS's
// "Amazon SNS message filtering" documentation, and one policy meaning the same on a topic's
// queue subscription and on an exchange binding.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "match/filter_policy.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using switchyard::detail::FilterPolicy;

namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;


bool matches(std::string_view policy, const Attributes& attributes) {
  auto parsed = FilterPolicy::parse(policy);
  INFO(parsed.message());
  REQUIRE(parsed);
  return parsed->matches(attributes);
}

// AWS's example message: store, event, customer_interests, price_usd.
const Attributes kOrder{{"store", "example_corp"},
                        {"event", "order_placed"},
                        {"customer_interests", "rugby"},
                        {"price_usd", "210.75"}};

}  // namespace

TEST_CASE("a policy matches when every key matches (AND) and a key when any value does (OR)") {
  CHECK(matches(R"({"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
                    "customer_interests": ["rugby", "football", "baseball"],
                    "price_usd": [{"numeric": [">=", 100]}]})",
                kOrder));
  CHECK_FALSE(matches(R"({"store": ["example_corp"], "event": ["order_cancelled"]})", kOrder));
  CHECK(matches(R"({"customer_interests": ["soccer", "rugby"]})", kOrder));
  CHECK_FALSE(matches(R"({"customer_interests": ["soccer", "tennis"]})", kOrder));
  CHECK(matches("{}", kOrder));  // no key: every message
}

TEST_CASE("exact string values compare text exactly and numbers compare as numbers") {
  CHECK(matches(R"({"store": ["example_corp"]})", kOrder));
  CHECK_FALSE(matches(R"({"store": ["Example_Corp"]})", kOrder));
  CHECK(matches(R"({"price_usd": [210.75]})", kOrder));
  CHECK(matches(R"({"price_usd": [2.1075e2]})", kOrder));
  CHECK_FALSE(matches(R"({"price_usd": ["210.750"]})", kOrder));  // a string is text
  CHECK_FALSE(matches(R"({"store": [5]})", kOrder));              // not a number: no numeric match
}

TEST_CASE("prefix, suffix and equals-ignore-case (AWS: string value matching)") {
  CHECK(matches(R"({"customer_interests": [{"prefix": "rug"}]})", kOrder));
  CHECK_FALSE(matches(R"({"customer_interests": [{"prefix": "bas"}]})", kOrder));
  CHECK(matches(R"({"store": [{"suffix": "_corp"}]})", kOrder));
  CHECK(matches(R"({"customer_interests": [{"equals-ignore-case": "RuGbY"}]})", kOrder));
}

TEST_CASE("anything-but: a value, a list, numbers, a prefix, never a missing attribute") {
  CHECK(matches(R"({"customer_interests": [{"anything-but": ["soccer", "tennis"]}]})", kOrder));
  CHECK_FALSE(
      matches(R"({"customer_interests": [{"anything-but": ["rugby", "tennis"]}]})", kOrder));
  CHECK_FALSE(matches(R"({"price_usd": [{"anything-but": [100, 210.75]}]})", kOrder));
  CHECK(matches(R"({"price_usd": [{"anything-but": 500}]})", kOrder));
  CHECK_FALSE(matches(R"({"event": [{"anything-but": {"prefix": "order_"}}]})", kOrder));
  CHECK(matches(R"({"event": [{"anything-but": {"prefix": "invoice_"}}]})", kOrder));
  CHECK_FALSE(matches(R"({"missing": [{"anything-but": "x"}]})", kOrder));
}

TEST_CASE("numeric equality and ranges (AWS: numeric value matching)") {
  CHECK(matches(R"({"price_usd": [{"numeric": ["=", 210.75]}]})", kOrder));
  CHECK(matches(R"({"price_usd": [{"numeric": [">", 0, "<=", 210.75]}]})", kOrder));
  CHECK_FALSE(matches(R"({"price_usd": [{"numeric": [">", 0, "<", 210.75]}]})", kOrder));
  CHECK_FALSE(matches(R"({"price_usd": [{"numeric": [">=", 300]}]})", kOrder));
  CHECK(matches(R"({"price_usd": [{"numeric": ["<", 300]}]})", kOrder));
  CHECK_FALSE(matches(R"({"store": [{"numeric": [">", 0]}]})", kOrder));  // not a number
}

TEST_CASE("exists true matches any value, exists false only a missing attribute") {
  CHECK(matches(R"({"store": [{"exists": true}]})", kOrder));
  CHECK_FALSE(matches(R"({"store": [{"exists": false}]})", kOrder));
  CHECK(matches(R"({"encrypted": [{"exists": false}]})", kOrder));
  CHECK_FALSE(matches(R"({"encrypted": [{"exists": true}]})", kOrder));
}

TEST_CASE("a malformed policy is refused with invalid_argument naming what is wrong") {
  for (std::string_view bad : {
           R"([])",                                           // not an object
           R"({"store": []})",                                // empty list
           R"({"store": [{"prefix": 5}]})",                   // prefix of a number
           R"({"store": [{"between": [1, 2]}]})",             // unknown operator
           R"({"price": [{"numeric": [">", 10, "<", 5]}]})",  // upside-down range
           R"({"price": [{"numeric": ["~", 10]}]})",          // unknown numeric operator
           R"({"store": [{"exists": "yes"}]})",               // exists takes a boolean
           R"({"store": ["a"] )",                             // broken JSON
           R"({"store": ["a"]} trailing)",
       }) {
    auto parsed = FilterPolicy::parse(bad);
    INFO(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.code() == Errc::invalid_argument);
    CHECK(parsed.message().starts_with("filter policy"));
  }
}

TEST_CASE("one filter policy means the same on a topic subscription and an exchange binding") {
  test::ManualBroker t;
  t.broker.declare_topic("orders");
  t.broker.declare_queue("by-topic");
  t.broker.declare_queue("by-exchange");
  t.broker.declare_exchange("events", ExchangeType::fanout);
  const Headers filter{{"x-filter-policy",
                        R"({"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]})"}};
  t.broker.subscribe_queue("orders", "by-topic", filter);
  t.broker.bind("events", "by-exchange", {}, {.arguments = filter});
  const Headers cheap{{"store", "example_corp"}, {"price_usd", "99.5"}};
  const Headers dear{{"store", "example_corp"}, {"price_usd", "210.75"}};
  const Headers other{{"store", "other"}, {"price_usd", "500"}};
  for (const Headers* h : {&cheap, &dear, &other}) {
    REQUIRE(t.producer.send("orders", "x", {.headers = *h}));
    REQUIRE(t.producer.send("events", "x", {.headers = *h}));
  }
  CHECK(t.broker.queue("by-topic").depth() == 1);
  CHECK(t.broker.queue("by-exchange").depth() == 1);
  auto e = test::error_of([&] {
    t.broker.subscribe_queue("orders", "by-exchange", {{"x-filter-policy", "{"}});
  });
  REQUIRE(e);
  CHECK(e->code() == Errc::invalid_argument);
}

// SNS keeps a subscription, with its filter policy, until it is unsubscribed; RabbitMQ keeps a
// durable queue's binding to a durable exchange, arguments included, over a restart. On a data
// directory both are in the broker's catalog: the reopened broker filters as before.
TEST_CASE("after a restart a binding's and a topic subscription's filter policy still filter") {
  test::ScratchDir dir;
  const QueueOptions durable{.durability = Durability::none};
  const Headers filter{{"x-filter-policy",
                        R"({"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]})"}};
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_topic("orders", {.durability = Durability::none});
    broker.declare_queue("by-topic", durable);
    broker.declare_queue("by-exchange", durable);
    broker.declare_queue("dropped", durable);
    broker.declare_exchange("events", ExchangeType::fanout);
    broker.subscribe_queue("orders", "by-topic", filter);
    broker.subscribe_queue("orders", "dropped", filter);
    broker.unsubscribe_queue("orders", "dropped");  // unsubscribed: not kept
    broker.bind("events", "by-exchange", {}, {.arguments = filter});
  }
  Broker broker({.data_dir = dir.path()});
  auto producer = broker.producer();
  const Headers cheap{{"store", "example_corp"}, {"price_usd", "99.5"}};
  const Headers dear{{"store", "example_corp"}, {"price_usd", "210.75"}};
  const Headers other{{"store", "other"}, {"price_usd", "500"}};
  for (const Headers* h : {&cheap, &dear, &other}) {
    REQUIRE(producer.send("orders", "x", {.headers = *h}));
    REQUIRE(producer.send("events", "x", {.headers = *h}));
  }
  CHECK(broker.queue("by-topic").depth() == 1);
  CHECK(broker.queue("by-exchange").depth() == 1);
  CHECK(broker.queue("dropped").depth() == 0);
  for (const char* name : {"by-topic", "by-exchange"}) {
    INFO(name);
    auto consumer = broker.consumer(name);
    auto got = consumer.receive(std::chrono::seconds(0));
    REQUIRE(got);
    CHECK(got->headers().get("price_usd") == "210.75");
  }
  // The same filter again is the same subscription; another one is refused, as before.
  CHECK_NOTHROW(broker.subscribe_queue("orders", "by-topic", filter));
  CHECK(test::code_of([&] {
          broker.subscribe_queue("orders", "by-topic", {{"store", "other"}});
        }) == Errc::option_mismatch);
}
