// Result and Status: the std::expected vocabulary (value_or, and_then, transform, or_else,
// transform_error, error()), and the public API's compile-time guards that a static_assert in a
// test can state (the ones that must fail to compile are in tests/api/misuse/).
#include <catch2/catch.hpp>

#include <string>
#include <type_traits>
#include <utility>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

Result<int> parse(std::string_view text) {
  if (text.empty()) return Result<int>(Errc::invalid_argument, "empty");
  return std::stoi(std::string(text));
}

Result<std::string> failed(Errc code, std::string message = {}) {
  return Result<std::string>(code, std::move(message));
}

}  // namespace

// --- the std::expected vocabulary ----------------------------------------------------------

TEST_CASE("error() of a failed result is its Failure, comparable with an Errc") {
  const auto r = failed(Errc::full, "queue 'q' is full");
  CHECK_FALSE(r.has_value());
  CHECK(r.error() == Errc::full);
  CHECK(r.error().message == "queue 'q' is full");
  CHECK(r.error().code == r.code());
  STATIC_REQUIRE(std::is_same_v<decltype(r.error()), const Failure&>);
  STATIC_REQUIRE(std::is_same_v<Result<int>::error_type, Failure>);
  STATIC_REQUIRE(std::is_same_v<Result<int>::value_type, int>);
}

TEST_CASE("error() of a successful result is a Failure with code ok, not undefined") {
  const Result<int> r = 7;
  CHECK(r.error() == Errc::ok);
  CHECK(r.error().message.empty());
  const Status s;
  CHECK(s.error() == Errc::ok);
}

TEST_CASE("error() of an rvalue result moves the failure out") {
  Failure f = failed(Errc::corrupt, "bad crc at 12").error();
  CHECK(f == Errc::corrupt);
  CHECK(f.message == "bad crc at 12");
}

TEST_CASE("value_or gives the value, or the fallback on failure") {
  CHECK(parse("12").value_or(-1) == 12);
  CHECK(parse("").value_or(-1) == -1);
  const auto text = failed(Errc::timed_out);
  CHECK(text.value_or("none") == "none");
  CHECK(Result<std::string>(std::string("x")).value_or("none") == "x");
}

TEST_CASE("and_then chains a fallible step and carries the first failure through") {
  auto twice = [](int v) { return Result<long>(2L * v); };
  auto refuse = [](int) { return Result<long>(Errc::out_of_range, "too big"); };
  const auto ok = parse("21").and_then(twice);
  STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(ok)>, Result<long>>);
  REQUIRE(ok);
  CHECK(*ok == 42);
  const auto not_parsed = parse("").and_then(twice);
  CHECK(not_parsed.error() == Errc::invalid_argument);
  CHECK(not_parsed.message() == "empty");
  CHECK(parse("1").and_then(refuse).error() == Errc::out_of_range);
  SECTION("on a Status, the step takes no value") {
    const Status done;
    const auto r = done.and_then([] { return Result<int>(5); });
    CHECK(r.value_or(0) == 5);
    const Status closed(Errc::closed, "consumer closed");
    CHECK(closed.and_then([] { return Result<int>(5); }).error() == Errc::closed);
  }
}

TEST_CASE("and_then on an rvalue hands the value over by move") {
  auto r = Result<std::string>(std::string(100, 'x')).and_then([](std::string&& s) {
    return Result<std::size_t>(s.size());
  });
  CHECK(r.value_or(0) == 100);
}

TEST_CASE("transform maps the value and keeps the failure") {
  CHECK(parse("20").transform([](int v) { return v + 1; }).value_or(0) == 21);
  CHECK(parse("").transform([](int v) { return v + 1; }).error() == Errc::invalid_argument);
  SECTION("a function returning void makes a Status") {
    int seen = 0;
    const Status s = parse("3").transform([&](int v) { seen = v; });
    CHECK(s.has_value());
    CHECK(seen == 3);
  }
  SECTION("on a Status, the function takes no value") {
    const Status done;
    CHECK(done.transform([] { return std::string("ran"); }).value_or("") == "ran");
    const Status full(Errc::full);
    CHECK(full.transform([] { return 1; }).error() == Errc::full);
  }
}

TEST_CASE("or_else recovers from a failure and leaves a value alone") {
  auto retry = [](const Failure& f) {
    return f == Errc::timed_out ? Result<std::string>(std::string("retried"))
                                : Result<std::string>(f);
  };
  CHECK(failed(Errc::timed_out).or_else(retry).value_or("") == "retried");
  CHECK(failed(Errc::closed).or_else(retry).error() == Errc::closed);
  CHECK(Result<std::string>(std::string("kept")).or_else(retry).value_or("") == "kept");
  SECTION("on a Status") {
    const Status stale(Errc::stale_delivery);
    const Status recovered = stale.or_else([](const Failure&) { return Status(); });
    CHECK(recovered.has_value());
  }
}

TEST_CASE("transform_error rewrites the failure, adding context") {
  const auto r = failed(Errc::io_error, "write failed").transform_error([](Failure f) {
    f.message = "queue 'jobs': " + f.message;
    return f;
  });
  CHECK(r.error() == Errc::io_error);
  CHECK(r.message() == "queue 'jobs': write failed");
  const Status s = Status(Errc::corrupt, "crc").transform_error([](const Failure& f) {
    return Failure{Errc::corrupt, "segment 3: " + f.message};
  });
  CHECK(s.message() == "segment 3: crc");
}

TEST_CASE("value() throws switchyard::Error with the code and message") {
  const auto r = failed(Errc::unknown_destination, "no queue 'nope'");
  CHECK_THROWS_MATCHES(r.value(), Error, Catch::Predicate<Error>([](const Error& e) {
                         return e.code() == Errc::unknown_destination &&
                                std::string(e.what()).find("no queue 'nope'") != std::string::npos;
                       }));
}

TEST_CASE("a send to a misspelled destination is reported in its Result") {
  Broker broker;
  broker.declare_queue("orders");
  auto producer = broker.producer();
  const auto sent = producer.send("ordres", "x");
  CHECK(sent.error() == Errc::unknown_destination);
  CHECK_THAT(sent.message(), Catch::Contains("ordres"));
}

// --- priorities take any integer -----------------------------------------------------------

TEST_CASE("a priority is built from any integer and clamped to 0..255") {
  CHECK(Priority(3).level() == 3);
  CHECK(Priority(-5).level() == 0);
  CHECK(Priority(300).level() == 255);
  CHECK(Priority(std::size_t{7}).level() == 7);
  CHECK(Priority(std::uint64_t{1} << 40).level() == 255);
  CHECK(Priority(std::int64_t{-1} << 40).level() == 0);
  CHECK(Priority('a').level() == 97);
  CHECK(Priority(true).level() == 1);
  for (int i = 0; i < 6; ++i) {
    const SendOptions options{.priority = i % 3};  // no narrowing, no cast
    CHECK(options.priority == i % 3);
  }
}

TEST_CASE("a priority above the queue's max_priority is delivered as its highest level") {
  ManualBroker t;
  t.broker.declare_queue("tasks", {.max_priority = 9});
  REQUIRE(t.producer.send("tasks", "low", {.priority = 3}));
  REQUIRE(t.producer.send("tasks", "negative", {.priority = -20}));
  REQUIRE(t.producer.send("tasks", "huge", {.priority = 100'000}));
  auto c = t.broker.consumer("tasks");
  auto first = c.receive();
  REQUIRE(first);
  CHECK(text(*first) == "huge");
  CHECK(first->message().priority() == 255);
  auto second = c.receive();
  REQUIRE(second);
  CHECK(text(*second) == "low");
  auto third = c.receive();
  REQUIRE(third);
  CHECK(text(*third) == "negative");
  CHECK(third->message().priority() == 0);
  for (auto* d : {&*first, &*second, &*third}) REQUIRE(d->ack());
}

// --- receive and poll only on a consumer that outlives the statement -----------------------

namespace {
template <class C>
concept can_receive = requires(C&& c) {
  std::forward<C>(c).receive(Duration{0});
};
template <class C>
concept can_receive_many = requires(C&& c) {
  std::forward<C>(c).receive(std::size_t{8}, Duration{0});
};
template <class C>
concept can_receive_into = requires(C&& c, std::vector<Delivery>& out) {
  std::forward<C>(c).receive(out, std::size_t{8}, Duration{0});
};
template <class G>
concept can_poll = requires(G&& g) {
  std::forward<G>(g).poll(std::size_t{8}, Duration{0});
};
template <class G>
concept can_poll_into = requires(G&& g, PollBatch& batch) {
  std::forward<G>(g).poll(batch, std::size_t{8}, Duration{0});
};
}  // namespace

TEST_CASE("receive and poll compile on a named consumer and not on a temporary") {
  STATIC_REQUIRE(can_receive<Consumer&>);
  STATIC_REQUIRE(can_receive_many<Consumer&>);
  STATIC_REQUIRE(can_receive_into<Consumer&>);
  STATIC_REQUIRE_FALSE(can_receive<Consumer>);
  STATIC_REQUIRE_FALSE(can_receive_many<Consumer>);
  STATIC_REQUIRE_FALSE(can_receive_into<Consumer>);
  STATIC_REQUIRE(can_poll<GroupConsumer&>);
  STATIC_REQUIRE(can_poll_into<GroupConsumer&>);
  STATIC_REQUIRE_FALSE(can_poll<GroupConsumer>);
  STATIC_REQUIRE_FALSE(can_poll_into<GroupConsumer>);
}
