// The exchange routing vectors: one table of cases — an exchange of each type, its bindings,
// and for each published key (and headers) the exact set of bound queues that receive a copy —
// run against the in-memory exchange and (with switchyard::rabbitmq) a RabbitMQ exchange, so
// that the server's routing decisions are checked to equal this process's. A publish no
// binding takes is `Errc::unroutable` (the exchanges are declared with `Unroutable::error`:
// mandatory publishing on the server).
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "transport/conformance/queue_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using namespace std::chrono_literals;

namespace {

#ifdef SWITCHYARD_CONFORMANCE_RABBITMQ
#define SWITCHYARD_EXCHANGE_TRANSPORTS \
  switchyard::test::MemoryQueues, switchyard::test::RabbitQueues
#else
#define SWITCHYARD_EXCHANGE_TRANSPORTS switchyard::test::MemoryQueues
#endif

struct Binding {
  int queue;  // which of the scenario's queues (0, 1, ...)
  std::string key;
  Headers arguments{};
};

struct Probe {
  std::string key;
  Headers headers{};
  std::set<int> expected;  // the queues that get a copy; empty: unroutable
};

struct Scenario {
  std::string name;
  ExchangeType type;
  std::vector<Binding> bindings;
  std::vector<Probe> probes;
};

// One topic binding per queue, each pattern on its own queue, and every key against all.
// RabbitMQ's rules (docs/routing.md): words split at '.', empty words are words, "" is zero
// words; `*` is one word, `#` zero or more; a word merely containing * or # is literal.
const std::vector<std::string> kPatterns = {
    "#",      // 0
    "a.#",    // 1
    "#.b",    // 2
    "a.*.c",  // 3
    "a.#.c",  // 4
    "*",      // 5
    "*.*",    // 6
    "",       // 7
    "a.b",    // 8
    "a*",     // 9
    "#.#",    // 10
    "a..c",   // 11
    "*.b.#",  // 12
    "a.",     // 13
};

std::vector<Binding> one_queue_per_pattern() {
  std::vector<Binding> out;
  for (std::size_t i = 0; i < kPatterns.size(); ++i) {
    out.push_back({static_cast<int>(i), kPatterns[i]});
  }
  return out;
}

std::vector<Scenario> scenarios() {
  return {
      {"topic patterns",
       ExchangeType::topic,
       one_queue_per_pattern(),
       {
           {"", {}, {0, 7, 10}},      // # matches zero words; * does not
           {"a", {}, {0, 1, 5, 10}},  // a.# matches "a" (# as zero words)
           {"b", {}, {0, 2, 5, 10}},  // #.b matches "b"
           {"a.b", {}, {0, 1, 2, 6, 8, 10, 12}},
           {"a.c", {}, {0, 1, 4, 6, 10}},  // a.#.c with # as zero words; a.*.c needs three
           {"a.b.c", {}, {0, 1, 3, 4, 10, 12}},
           {"a.b.b.c", {}, {0, 1, 4, 10, 12}},  // * is exactly one word
           {"a..c", {}, {0, 1, 3, 4, 10, 11}},  // an empty middle word is a word for *
           {"a.", {}, {0, 1, 6, 10, 13}},       // two words, the second empty
           {".", {}, {0, 6, 10}},               // two empty words
           {".b", {}, {0, 2, 6, 10, 12}},
           {"x.b.y", {}, {0, 10, 12}},
           {"b.a", {}, {0, 6, 10}},
           {"a*", {}, {0, 5, 9, 10}},  // a* is a literal word
           {"ab", {}, {0, 5, 10}},
           {"x.y.b", {}, {0, 2, 10}},
       }},
      {"topic: two bindings of one queue give it one copy",
       ExchangeType::topic,
       {{0, "a.*"}, {0, "#"}, {1, "a.b"}, {1, "a.b"}},
       {{"a.b", {}, {0, 1}}, {"z", {}, {0}}}},
      {"topic: no binding matches",
       ExchangeType::topic,
       {{0, "a.*"}, {1, "*.b"}},
       {{"a.b.c", {}, {}}, {"", {}, {}}, {"c", {}, {}}}},
      {"direct",
       ExchangeType::direct,
       {{0, "k"}, {1, "k"}, {2, "other"}, {3, ""}, {4, "a.*"}},
       {
           {"k", {}, {0, 1}},
           {"", {}, {3}},
           {"other", {}, {2}},
           {"a.b", {}, {}},  // no pattern matching on a direct exchange
           {"a.*", {}, {4}},
           {"K", {}, {}},  // case matters
           {"k.", {}, {}},
       }},
      {"fanout",
       ExchangeType::fanout,
       {{0, "x"}, {1, ""}, {2, "#"}},
       {{"anything", {}, {0, 1, 2}}, {"", {}, {0, 1, 2}}}},
      {"headers",
       ExchangeType::headers,
       {{0, "", {{"x-match", "all"}, {"a", "1"}, {"b", "2"}}},
        {1, "", {{"x-match", "any"}, {"a", "1"}, {"b", "2"}}},
        {2, "", {{"a", "1"}}},          // x-match all by default
        {3, "", {}},                    // no arguments under all: everything
        {4, "", {{"x-match", "any"}}},  // no arguments under any: nothing
        {5, "ignored", {{"c", ""}}}},   // an empty value is a value; the key plays no part
       {
           {"", {{"a", "1"}, {"b", "2"}}, {0, 1, 2, 3}},
           {"", {{"a", "1"}, {"b", "2"}, {"c", "3"}}, {0, 1, 2, 3}},
           {"", {{"a", "1"}}, {1, 2, 3}},
           {"", {{"b", "2"}}, {1, 3}},
           {"", {{"a", "2"}}, {3}},
           {"", {}, {3}},
           {"other", {{"a", "1"}}, {1, 2, 3}},
           {"", {{"c", ""}}, {3, 5}},
           {"", {{"c", "x"}}, {3}},
           {"", {{"A", "1"}}, {3}},  // names are exact
       }},
      {"headers: all-with-x and any-with-x compare x- arguments",
       ExchangeType::headers,
       {{0, "", {{"x-match", "all"}, {"x-kind", "k"}}},  // x- arguments ignored: matches all
        {1, "", {{"x-match", "all-with-x"}, {"x-kind", "k"}}},
        {2, "", {{"x-match", "any-with-x"}, {"x-kind", "k"}, {"a", "1"}}}},
       {
           {"", {{"x-kind", "k"}}, {0, 1, 2}},
           {"", {{"a", "1"}}, {0, 2}},
           {"", {}, {0}},
       }},
  };
}

/// Runs `scenario` on `t`: declares its exchange (Unroutable::error) and queues, binds, and
/// checks every probe's copies queue by queue (purging after each probe).
template <class T>
void run(T& t, const Scenario& scenario) {
  const std::string exchange = unique("routes");
  t.exchange(exchange, scenario.type, {.unroutable = Unroutable::error});
  int queues = 0;
  for (const Binding& b : scenario.bindings) queues = std::max(queues, b.queue + 1);
  std::vector<Queue> q;
  for (int i = 0; i < queues; ++i) q.push_back(t.queue(unique(fmt::format("route{}", i))));
  for (const Binding& b : scenario.bindings) {
    t.broker->bind(exchange, q[static_cast<std::size_t>(b.queue)].name(), b.key,
                   {.arguments = b.arguments});
  }
  auto producer = t.broker->producer();
  for (const Probe& probe : scenario.probes) {
    std::string headers;
    for (const auto& [name, value] : probe.headers) headers += fmt::format("{}={} ", name, value);
    INFO(T::kName << " " << scenario.name << ": key '" << probe.key << "' headers {" << headers
                  << "}");
    auto sent = send_settled(producer, exchange, "p", {.key = probe.key, .headers = probe.headers});
    if (probe.expected.empty()) {
      REQUIRE(!sent);
      CHECK(sent.failure().code == Errc::unroutable);
    } else {
      INFO(sent.failure().message);
      REQUIRE(sent);
    }
    std::set<int> got;
    for (int i = 0; i < queues; ++i) {
      const std::size_t copies = q[static_cast<std::size_t>(i)].purge();
      if (copies != 0) got.insert(i);
      INFO("queue " << i);
      CHECK(copies <= 1);
    }
    CHECK(got == probe.expected);
  }
}

}  // namespace

TEMPLATE_TEST_CASE(
    "every exchange type routes each key and headers to exactly the queues the "
    "table names",
    "[conformance]", SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  for (const Scenario& scenario : scenarios()) run(t, scenario);
}

TEMPLATE_TEST_CASE("a message no binding takes is dropped by an exchange that says drop",
                   "[conformance]", SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  const std::string exchange = unique("dropping"), name = unique("bound");
  t.exchange(exchange, ExchangeType::topic, {.unroutable = Unroutable::drop});
  Queue q = t.queue(name);
  t.broker->bind(exchange, name, "a.*");
  auto producer = t.broker->producer();
  auto sent = send_settled(producer, exchange, "lost", {.key = "b.c"});
  INFO(sent.failure().message);
  CHECK(sent);
  send_ok(producer, exchange, "kept", {.key = "a.c"});
  CHECK(q.depth() == 1);
}

TEMPLATE_TEST_CASE("an unbound queue gets no more copies", "[conformance]",
                   SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  const std::string exchange = unique("unbinding"), a = unique("a"), b = unique("b");
  t.exchange(exchange, ExchangeType::direct, {.unroutable = Unroutable::error});
  Queue qa = t.queue(a), qb = t.queue(b);
  t.broker->bind(exchange, a, "k");
  t.broker->bind(exchange, b, "k");
  REQUIRE(t.broker->unbind(exchange, a, "k"));
  CHECK_FALSE(t.broker->unbind(exchange, a, "k"));
  auto producer = t.broker->producer();
  send_ok(producer, exchange, "one", {.key = "k"});
  CHECK(qa.depth() == 0);
  CHECK(qb.depth() == 1);
  REQUIRE(t.broker->unbind(exchange, b, "k"));
  auto sent = send_settled(producer, exchange, "two", {.key = "k"});
  REQUIRE(!sent);
  CHECK(sent.failure().code == Errc::unroutable);
}

TEMPLATE_TEST_CASE(
    "a header filter on a direct, topic or fanout binding filters where the "
    "transport has binding filters, and is refused at bind where it has not",
    "[conformance]", SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  for (const ExchangeType type :
       {ExchangeType::direct, ExchangeType::topic, ExchangeType::fanout}) {
    INFO("exchange type " << static_cast<int>(type));
    const std::string exchange = unique("filtered"), name = unique("eu");
    t.exchange(exchange, type, {.unroutable = Unroutable::error});
    Queue q = t.queue(name);
    auto bind = [&] { t.broker->bind(exchange, name, "k", {.arguments = {{"region", "eu"}}}); };
    if (!TestType::kBindingFilters) {
      // RabbitMQ's direct, topic and fanout exchanges ignore a binding's arguments.
      CHECK(code_of(bind) == Errc::invalid_argument);
      continue;
    }
    bind();
    auto producer = t.broker->producer();
    send_ok(producer, exchange, "eu", {.key = "k", .headers = {{"region", "eu"}}});
    auto us = send_settled(producer, exchange, "us", {.key = "k", .headers = {{"region", "us"}}});
    REQUIRE(!us);
    CHECK(us.failure().code == Errc::unroutable);
    CHECK(q.depth() == 1);
  }
}

TEMPLATE_TEST_CASE(
    "an exchange bound to an exchange passes on what its binding matches, and "
    "the second routes it by the same key",
    "[conformance]", SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  const std::string front = unique("front"), back = unique("back");
  const std::string a = unique("a"), b = unique("b");
  t.exchange(front, ExchangeType::topic, {.unroutable = Unroutable::error});
  t.exchange(back, ExchangeType::direct);
  Queue qa = t.queue(a), qb = t.queue(b);
  t.broker->bind(front, back, "orders.#");
  t.broker->bind(back, a, "orders.eu");
  t.broker->bind(back, b, "orders.us");
  auto producer = t.broker->producer();
  send_ok(producer, front, "eu", {.key = "orders.eu"});
  send_ok(producer, front, "us", {.key = "orders.us"});
  // Matched by front's binding, taken by none of back's: dropped there (back says drop).
  if (TestType::kName == "rabbitmq") {
    // KNOWN DIFFERENCE (not small to fix): a mandatory publish is returned when no *queue*
    // takes it, however many exchange bindings matched on the way; the in-memory exchange
    // counts a matched binding to an exchange as routed.
    WARN(
        "SKIPPED on rabbitmq (known difference): a publish that reaches an exchange which "
        "drops it is unroutable on the server, routed in memory");
  } else {
    send_ok(producer, front, "asia", {.key = "orders.asia"});
  }
  CHECK(qa.depth() == 1);
  CHECK(qb.depth() == 1);
  auto unroutable = send_settled(producer, front, "users", {.key = "users.eu"});
  REQUIRE(!unroutable);
  CHECK(unroutable.failure().code == Errc::unroutable);
  auto consumer = t.broker->consumer(a);
  Delivery d = receive(consumer);
  CHECK(d.payload().as_string() == "eu");
  CHECK(d.message().key() == "orders.eu");
  REQUIRE(d.ack());
}

TEMPLATE_TEST_CASE(
    "a message no binding takes goes to the alternate exchange under "
    "Unroutable::alternate",
    "[conformance]", SWITCHYARD_EXCHANGE_TRANSPORTS) {
  TestType t;
  if (!t.available()) return;
  const std::string alternate = unique("ae"), exchange = unique("with-ae");
  const std::string bound = unique("bound"), rest = unique("rest");
  t.exchange(alternate, ExchangeType::fanout);
  Queue qrest = t.queue(rest);
  t.broker->bind(alternate, rest);
  t.exchange(exchange, ExchangeType::direct,
             {.unroutable = Unroutable::alternate, .alternate = alternate});
  Queue qbound = t.queue(bound);
  t.broker->bind(exchange, bound, "k");
  auto producer = t.broker->producer();
  send_ok(producer, exchange, "taken", {.key = "k"});
  send_ok(producer, exchange, "other", {.key = "x"});
  CHECK(qbound.depth() == 1);
  CHECK(qrest.depth() == 1);
  auto consumer = t.broker->consumer(rest);
  Delivery d = receive(consumer);
  CHECK(d.payload().as_string() == "other");
  CHECK(d.message().key() == "x");
  REQUIRE(d.ack());
}
