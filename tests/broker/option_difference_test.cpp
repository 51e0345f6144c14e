// A re-declare with other options fails with option_mismatch naming the first option that
// differs and both values — the same comparison for queues, topics and exchanges
// (src/broker/option_difference.cpp).
#include <catch2/catch.hpp>

#include <string>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

/// The message of the option_mismatch `f` throws ("" if it throws none, or another code).
std::string mismatch_of(const std::function<void()>& f) {
  const auto e = error_of(f);
  if (!e || e->code() != Errc::option_mismatch) return "";
  return e->what();
}

}  // namespace

TEST_CASE("a queue re-declared with other options names the option and both values") {
  Broker broker;
  broker.declare_queue("dlq");
  broker.declare_queue("q", {.max_deliveries = 3, .dead_letter = "dlq"});
  CHECK(mismatch_of([&] {
          broker.declare_queue("q", {.max_deliveries = 5, .dead_letter = "dlq"});
        }) == "option_mismatch: queue 'q' already declared with max_deliveries=3, asked for 5");
  SECTION("durations in their own unit") {
    CHECK_THAT(mismatch_of([&] {
                 broker.declare_queue(
                     "q", {.max_deliveries = 3, .dead_letter = "dlq", .visibility_timeout = 250ms});
               }),
               Catch::EndsWith("visibility_timeout=30s, asked for 250ms"));
  }
  SECTION("strings quoted") {
    CHECK_THAT(mismatch_of([&] { broker.declare_queue("q", {.max_deliveries = 3}); }),
               Catch::EndsWith("dead_letter='dlq', asked for ''"));
  }
  SECTION("nested options by their designated-initializer path") {
    CHECK_THAT(mismatch_of([&] {
                 broker.declare_queue("q", {.max_deliveries = 3,
                                            .dead_letter = "dlq",
                                            .retry_backoff = {.multiplier = 1.5}});
               }),
               Catch::EndsWith("retry_backoff.multiplier=2, asked for 1.5"));
  }
  SECTION("enums by name, and only the first difference") {
    CHECK_THAT(mismatch_of([&] {
                 broker.declare_queue("q", {.overflow = Overflow::reject, .max_deliveries = 9});
               }),
               Catch::EndsWith("overflow=block, asked for reject"));
  }
  SECTION("equal options are no mismatch") {
    CHECK_NOTHROW(broker.declare_queue("q", {.max_deliveries = 3, .dead_letter = "dlq"}));
  }
}

TEST_CASE("a topic re-declared with other options names the option and both values") {
  Broker broker;
  broker.declare_topic("t", {.partitions = 4});
  CHECK(mismatch_of([&] { broker.declare_topic("t", {.partitions = 8}); }) ==
        "option_mismatch: topic 't' already declared with partitions=4, asked for 8");
  CHECK_THAT(
      mismatch_of([&] { broker.declare_topic("t", {.partitions = 4, .retention = {.age = 24h}}); }),
      Catch::EndsWith("retention.age=168h, asked for 24h"));
  CHECK_NOTHROW(broker.declare_topic("t", {.partitions = 4}));
}

TEST_CASE("an exchange re-declared with another type or options names it and both values") {
  Broker broker;
  broker.declare_queue("other");
  broker.declare_exchange("x", ExchangeType::topic);
  CHECK(mismatch_of([&] { broker.declare_exchange("x", ExchangeType::direct); }) ==
        "option_mismatch: exchange 'x' already declared with type=topic, asked for direct");
  CHECK_THAT(mismatch_of([&] {
               broker.declare_exchange("x", ExchangeType::topic, {.unroutable = Unroutable::error});
             }),
             Catch::EndsWith("unroutable=drop, asked for error"));
  CHECK_NOTHROW(broker.declare_exchange("x", ExchangeType::topic));
}
