// Request / reply, RabbitMQ's RPC pattern: requests carry `reply_to` and `correlation_id`
// (AMQP's properties), replies go to one exclusive, auto-deleted reply queue per requester (as
// RabbitMQ's direct reply-to) and are matched to their request by correlation id; a Responder
// answers. Outcomes are typed: the reply, timed_out, remote_error, unroutable, closed.
#include <catch2/catch.hpp>

#include <future>
#include <latch>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kRequestsPerThread = 50;
#else
constexpr int kRequestsPerThread = 300;
#endif

Result<Reply> echo(const Delivery& request) {
  return Reply{"re:" + text(request), {{"answered-by", "echo"}}};
}

}  // namespace

TEST_CASE("a request gets its reply, with its correlation id, from a responder") {
  Broker broker;
  broker.declare_queue("rpc");
  std::promise<Headers> seen;
  Responder responder(broker, "rpc", [&](const Delivery& request) {
    seen.set_value(request.headers());
    return echo(request);
  });
  auto producer = broker.producer();
  auto reply = producer.request("rpc", "ping", {.timeout = 10s});
  REQUIRE(reply);
  CHECK(reply->payload().as_string() == "re:ping");
  CHECK(reply->headers().get("answered-by") == "echo");
  const Headers request_headers = seen.get_future().get();
  CHECK(request_headers.get(headers::reply_to) == producer.reply_queue());
  CHECK(request_headers.get(headers::correlation_id) ==
        reply->headers().get(headers::correlation_id));
  CHECK(producer.request_stats().answered == 1);
  CHECK(producer.request_stats().pending == 0);
  CHECK(responder.stats().answered == 1);
}

TEST_CASE("many requesters on one responder queue each get their own replies") {
  Broker broker;
  broker.declare_queue("rpc");
  Responder responder(broker, "rpc", echo, {.workers = 2});
  constexpr int kThreads = 6;
  std::atomic<int> right{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto producer = broker.producer();
      for (int i = 0; i < kRequestsPerThread; ++i) {
        const std::string body = std::to_string(t) + "-" + std::to_string(i);
        auto reply = producer.request("rpc", body, {.timeout = 60s});
        (reply && reply->payload().as_string() == "re:" + body ? right : wrong).fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
  CHECK(right.load() == kThreads * kRequestsPerThread);
  CHECK(responder.stats().answered == std::uint64_t{kThreads * kRequestsPerThread});
}

TEST_CASE("the callback form calls back exactly once per request, on the reply thread") {
  Broker broker;
  broker.declare_queue("rpc");
  Responder responder(broker, "rpc", echo);
  auto producer = broker.producer();
  constexpr int kRequests = 100;
  std::latch done(kRequests);
  std::mutex mutex;
  std::multiset<std::string> replies;
  std::atomic<int> on_caller{0};
  const auto caller = std::this_thread::get_id();
  for (int i = 0; i < kRequests; ++i) {
    producer.request("rpc", std::to_string(i), {.timeout = 60s}, [&](Result<Message> reply) {
      if (std::this_thread::get_id() == caller) on_caller.fetch_add(1);
      {
        std::lock_guard lock(mutex);
        replies.insert(reply ? std::string(reply->payload().as_string()) : "failed");
      }
      done.count_down();
    });
  }
  done.wait();
  CHECK(on_caller.load() == 0);
  REQUIRE(replies.size() == kRequests);
  for (int i = 0; i < kRequests; ++i) CHECK(replies.count("re:" + std::to_string(i)) == 1);
  CHECK(producer.request_stats().sent == kRequests);
}

TEST_CASE("a request nobody answers times out by the broker's clock") {
  ManualBroker m;
  m.broker.declare_queue("rpc");  // no responder
  auto reply = m.producer.request_future("rpc", "anyone?", {.timeout = 5s});
  // The deadline is on the manual clock, which has not moved: it cannot have passed.
  CHECK(reply.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout);
  m.clock->advance(5s);
  auto outcome = reply.get();
  CHECK(outcome.code() == Errc::timed_out);
  CHECK(m.producer.request_stats().timed_out == 1);
  // It carried its timeout as its time to live: nobody will answer it late.
  CHECK(m.broker.queue("rpc").depth() == 1);
  auto consumer = m.broker.consumer("rpc");
  CHECK(consumer.receive(Duration{0}).code() == Errc::timed_out);
}

TEST_CASE("a request with a shorter timeout ends first, though sent after a longer one") {
  ManualBroker m;
  m.broker.declare_queue("rpc");
  auto slow = m.producer.request_future("rpc", "a", {.timeout = 1h});
  auto fast = m.producer.request_future("rpc", "b", {.timeout = 1s});
  m.clock->advance(1s);
  CHECK(fast.get().code() == Errc::timed_out);
  CHECK(slow.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout);
  m.clock->advance(1h);
  CHECK(slow.get().code() == Errc::timed_out);
}

TEST_CASE("a reply that comes after its request timed out is dropped and counted, never reused") {
  ManualBroker m;
  m.broker.declare_queue("rpc");
  std::promise<void> taken;
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<int> calls{0};
  Responder responder(m.broker, "rpc", [&](const Delivery& request) {
    if (calls.fetch_add(1) == 0) {
      taken.set_value();
      released.wait();  // answers the first request only after its requester gave up
    }
    return echo(request);
  });
  auto first = m.producer.request_future("rpc", "first", {.timeout = 5s});
  taken.get_future().wait();
  m.clock->advance(5s);
  CHECK(first.get().code() == Errc::timed_out);
  // The next request is pending (queued behind the first, one worker) when the late reply
  // to the first comes: it must not take that reply.
  auto second = m.producer.request_future("rpc", "second", {.timeout = 5s});
  release.set_value();
  auto reply = second.get();
  REQUIRE(reply);
  CHECK(reply->payload().as_string() == "re:second");
  CHECK(m.producer.request_stats().late_replies == 1);
}

TEST_CASE("a responder that throws gives the requester remote_error with its message") {
  Broker broker;
  broker.declare_queue("rpc");
  Responder responder(broker, "rpc", [](const Delivery& request) -> Result<Reply> {
    if (text(request) == "throw") throw std::runtime_error("boom");
    return Result<Reply>(Errc::invalid_argument, "no such order");
  });
  auto producer = broker.producer();
  auto thrown = producer.request("rpc", "throw", {.timeout = 10s});
  CHECK(thrown.code() == Errc::remote_error);
  CHECK_THAT(thrown.message(), Catch::Contains("boom"));
  auto refused = producer.request("rpc", "refuse", {.timeout = 10s});
  CHECK(refused.code() == Errc::remote_error);
  CHECK_THAT(refused.message(), Catch::Contains("invalid_argument: no such order"));
  CHECK(responder.stats().failed == 2);
  // The requests were answered, so acked: not retried, not answered twice.
  REQUIRE(eventually([&] { return broker.queue("rpc").stats().acked == 2; }));
  CHECK(broker.queue("rpc").stats().redelivered == 0);
}

TEST_CASE("a request to a destination that does not exist is unroutable, at once") {
  Broker broker;
  auto producer = broker.producer();
  CHECK(producer.request("nowhere", "hello", {.timeout = 10s}).code() == Errc::unroutable);
  std::optional<Errc> called;
  producer.request("nowhere", "hello", {}, [&](Result<Message> r) { called = r.code(); });
  CHECK(called == Errc::unroutable);  // on the calling thread: it was never sent
  CHECK(producer.request("nowhere", "x", {.timeout = Duration{0}}).code() ==
        Errc::invalid_argument);
  CHECK(producer.request_stats().pending == 0);
}

TEST_CASE("the reply queue is exclusive to its requester and goes away with the producer") {
  Broker broker;
  broker.declare_queue("rpc");
  Responder responder(broker, "rpc", echo);
  std::string reply_queue;
  {
    auto producer = broker.producer();
    REQUIRE(producer.request("rpc", "hi", {.timeout = 10s}));
    reply_queue = producer.reply_queue();
    REQUIRE(broker.contains(reply_queue));
    CHECK(code_of([&] { (void)broker.consumer(reply_queue); }) == Errc::locked);
    CHECK(code_of([&] { broker.delete_queue(reply_queue); }) == Errc::locked);
  }
  CHECK_FALSE(broker.contains(reply_queue));
}

TEST_CASE("a producer that goes away with requests pending tells each of them closed") {
  Broker broker;
  broker.declare_queue("rpc");  // no responder
  std::future<Result<Message>> pending;
  {
    auto producer = broker.producer();
    pending = producer.request_future("rpc", "x", {.timeout = 1h});
  }
  CHECK(pending.get().code() == Errc::closed);
}

TEST_CASE("a broker shutdown ends pending requests with closed, and later ones too") {
  Broker broker;
  broker.declare_queue("rpc");
  auto producer = broker.producer();
  auto pending = producer.request_future("rpc", "x", {.timeout = 1h});
  broker.shutdown(Shutdown::stop);
  CHECK(pending.get().code() == Errc::closed);
  CHECK(producer.request("rpc", "y", {.timeout = 1s}).code() == Errc::closed);
}

TEST_CASE("a blocking request from a reply callback is refused, the callback form works there") {
  Broker broker;
  broker.declare_queue("rpc");
  Responder responder(broker, "rpc", echo);
  auto producer = broker.producer();
  std::promise<Errc> blocking;
  std::promise<std::string> nested;
  producer.request("rpc", "outer", {.timeout = 10s}, [&](Result<Message>) {
    blocking.set_value(producer.request("rpc", "inner", {.timeout = 10s}).code());
    producer.request("rpc", "inner", {.timeout = 10s}, [&](Result<Message> r) {
      nested.set_value(r ? std::string(r->payload().as_string()) : "failed");
    });
  });
  CHECK(blocking.get_future().get() == Errc::invalid_argument);
  CHECK(nested.get_future().get() == "re:inner");
}
