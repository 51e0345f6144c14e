// W3C Trace Context: traceparent values are parsed and formatted by the spec's rules, and the
// TraceContextInterceptor starts a trace or continues the one a message carries.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "switchyard/trace_context.hpp"

using namespace switchyard;

namespace {
// The spec's example (https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers).
constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}  // namespace

TEST_CASE("the spec's example traceparent parses into its trace id and parent id and flags") {
  const auto parsed = TraceParent::parse(kExample);
  REQUIRE(parsed);
  CHECK(parsed->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(parsed->parent_id_hex() == "00f067aa0ba902b7");
  CHECK(parsed->flags == 0x01);
  CHECK(parsed->sampled());
  CHECK(parsed->to_string() == kExample);
}

TEST_CASE("valid traceparent values parse and format back (version 00)") {
  const std::string value =
      GENERATE("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",  // not sampled
               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",  // unknown flags kept
               "00-00000000000000000000000000000001-0000000000000001-01",  // smallest non-zero ids
               "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01");
  CAPTURE(value);
  const auto parsed = TraceParent::parse(value);
  REQUIRE(parsed);
  CHECK(parsed->to_string() == value);
}

TEST_CASE("a later version is parsed by version 00's fields and the rest after a '-' is ignored") {
  const std::string value = GENERATE(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-");
  CAPTURE(value);
  const auto parsed = TraceParent::parse(value);
  REQUIRE(parsed);
  CHECK(parsed->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  // Passed on as version 00, the version this implementation writes.
  CHECK(parsed->to_string() == kExample);
}

TEST_CASE("invalid traceparent values are refused") {
  const std::string value = GENERATE(
      "",                                                           // empty
      "00",                                                         // too short
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",     // trace id 31 digits
      "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",   // trace id 33 digits
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",     // parent id 15 digits
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",     // flags 1 digit
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",   // version 00 is 55 long
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // trailing character
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff is invalid
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version not hex
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // all-zero parent id
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",    // uppercase hex
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",    // flags not hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // wrong delimiters
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7=01",    // wrong last delimiter
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // leading space
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x",  // later version, no '-'
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");      // later version, short
  CAPTURE(value);
  CHECK_FALSE(TraceParent::parse(value));
}

TEST_CASE("a generated traceparent is valid and sampled and new every time") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const TraceParent made = TraceParent::generate();
    const std::string text = made.to_string();
    CHECK(text.size() == 55);
    const auto parsed = TraceParent::parse(text);
    REQUIRE(parsed);
    CHECK(*parsed == made);
    CHECK(made.sampled());
    seen.insert(made.trace_id_hex());
  }
  CHECK(seen.size() == 100);
  CHECK_FALSE(TraceParent::generate(0).sampled());
}

TEST_CASE("a child keeps the trace id and flags and gets a new parent id") {
  const auto parent = TraceParent::parse(kExample);
  REQUIRE(parent);
  const TraceParent child = parent->child();
  CHECK(child.trace_id == parent->trace_id);
  CHECK(child.flags == parent->flags);
  CHECK(child.parent_id != parent->parent_id);
  CHECK(TraceParent::parse(child.to_string()));
}

TEST_CASE("the interceptor starts a trace on a message without traceparent") {
  TraceContextInterceptor interceptor;
  Headers headers{{"other", "kept"}};
  interceptor.on_send("orders", headers);
  const auto set = traceparent_of(headers);
  REQUIRE(set);
  CHECK(set->sampled());
  CHECK(headers.get("other") == "kept");
}

TEST_CASE("the interceptor continues the trace a message carries as a child span") {
  TraceContextInterceptor interceptor;
  Headers headers{{"traceparent", kExample}};
  interceptor.on_send("orders", headers);
  const auto set = traceparent_of(headers);
  REQUIRE(set);
  CHECK(set->trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(set->parent_id_hex() != "00f067aa0ba902b7");
  CHECK(set->flags == 0x01);
}

TEST_CASE("the interceptor restarts the trace of a message whose traceparent is invalid") {
  TraceContextInterceptor interceptor;
  Headers headers{{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}};
  interceptor.on_send("orders", headers);
  const auto set = traceparent_of(headers);
  REQUIRE(set);
  CHECK(set->trace_id_hex() != "00000000000000000000000000000000");
}
