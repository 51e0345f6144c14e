// The readiness fds of Consumer and GroupConsumer, watched by a raw epoll loop: when they turn
// readable, who clears them, and that no wake-up is lost between a send and the loop.
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kPerProducer = 2000;
#else
constexpr int kPerProducer = 20000;
#endif

/// Whether `fd` is readable now (no waiting).
bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

/// One epoll instance watching one fd, level-triggered, as an event loop would.
class Epoll {
 public:
  explicit Epoll(int fd) : epoll_(::epoll_create1(EPOLL_CLOEXEC)), fd_(fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    REQUIRE(::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) == 0);
  }
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;
  ~Epoll() {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd_, nullptr);
    ::close(epoll_);
  }
  /// True when the fd turned readable within `limit` (a bound, never expected to pass).
  bool wait(std::chrono::milliseconds limit) {
    epoll_event ev{};
    const int n = ::epoll_wait(epoll_, &ev, 1, static_cast<int>(limit.count()));
    return n == 1 && ev.data.fd == fd_;
  }

 private:
  int epoll_;
  int fd_;
};

}  // namespace

TEST_CASE("a consumer's new ready fd is readable, and a receive that finds nothing clears it") {
  Broker broker;
  broker.declare_queue("jobs");
  auto consumer = broker.consumer("jobs");
  auto fd = consumer.ready_fd();
  REQUIRE(fd);
  CHECK(readable_now(*fd));
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  CHECK_FALSE(readable_now(*fd));
  auto again = consumer.ready_fd();
  REQUIRE(again);
  CHECK(*again == *fd);  // one fd per consumer
}

TEST_CASE(
    "a send makes a cleared ready fd readable, and it stays readable until a receive "
    "finds nothing") {
  Broker broker;
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  auto consumer = broker.consumer("jobs");
  auto fd = consumer.ready_fd();
  REQUIRE(fd);
  Epoll loop(*fd);
  REQUIRE(consumer.receive(0s).code() == Errc::timed_out);
  CHECK_FALSE(loop.wait(0ms));
  REQUIRE(producer.send("jobs", "one"));
  REQUIRE(producer.send("jobs", "two"));
  REQUIRE(loop.wait(10s));
  auto first = consumer.receive(0s);
  REQUIRE(first);
  CHECK(text(*first) == "one");
  CHECK(loop.wait(0ms));  // level-triggered: still readable after a receive that got one
  auto second = consumer.receive(0s);
  REQUIRE(second);
  CHECK(text(*second) == "two");
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  CHECK_FALSE(loop.wait(0ms));
  REQUIRE(first->ack());
  REQUIRE(second->ack());
}

TEST_CASE("an ack that frees a full prefetch window makes the ready fd readable") {
  Broker broker;
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  auto consumer = broker.consumer("jobs", {.prefetch = 1});
  auto fd = consumer.ready_fd();
  REQUIRE(fd);
  REQUIRE(producer.send("jobs", "one"));
  REQUIRE(producer.send("jobs", "two"));
  auto held = consumer.receive(0s);
  REQUIRE(held);
  // At the prefetch limit a receive would block: it reports timed_out and clears the fd.
  CHECK(consumer.receive(0s).code() == Errc::timed_out);
  CHECK_FALSE(readable_now(*fd));
  REQUIRE(held->ack());
  Epoll loop(*fd);
  REQUIRE(loop.wait(10s));
  auto next = consumer.receive(0s);
  REQUIRE(next);
  CHECK(text(*next) == "two");
}

TEST_CASE(
    "closing the consumer, deleting its queue or shutting the broker down leaves the "
    "ready fd readable for good") {
  Broker broker;
  broker.declare_queue("jobs");
  auto consumer = broker.consumer("jobs");
  auto fd = consumer.ready_fd();
  REQUIRE(fd);
  REQUIRE(consumer.receive(0s).code() == Errc::timed_out);
  REQUIRE_FALSE(readable_now(*fd));
  SECTION("close") {
    consumer.close();
  }
  SECTION("delete the queue") {
    broker.delete_queue("jobs");
  }
  SECTION("shutdown") {
    (void)broker.shutdown(Shutdown::stop);
  }
  Epoll loop(*fd);
  REQUIRE(loop.wait(10s));
  CHECK(consumer.receive(0s).code() == Errc::closed);
  CHECK(loop.wait(0ms));
}

TEST_CASE("ready_timeout tells an event loop when time alone may make a message ready") {
  ManualBroker mb;
  mb.broker.declare_queue("later");
  auto consumer = mb.broker.consumer("later");
  SendOptions delayed;
  delayed.delay = 30s;
  REQUIRE(mb.producer.send("later", "x", delayed));
  // A manual clock moves without a notify: the loop looks again after max_real_sleep.
  CHECK(consumer.ready_timeout() <= mb.clock->max_real_sleep());
  Broker real;
  real.declare_queue("idle");
  auto idle = real.consumer("idle");
  CHECK(idle.ready_timeout() == Duration::max());
  real.declare_queue("later");
  auto waiting = real.consumer("later");
  REQUIRE(real.producer().send("later", "x", delayed));
  // A send derives its due time from a coarse stamp plus the coarse clock's resolution (it must
  // never come early), so it may be due up to that much after 30 s from a precise now.
  const Duration tick = SystemClock::instance()->coarse_resolution();
  CHECK(waiting.ready_timeout() <= Duration(30s) + tick);
  CHECK(waiting.ready_timeout() > Duration(20s));
}

TEST_CASE("an epoll loop on a ready fd receives every message two producer threads send") {
  Broker broker;
  broker.declare_queue("jobs", {.capacity = 1u << 20});
  auto consumer = broker.consumer("jobs", {.prefetch = 1024});
  auto fd = consumer.ready_fd();
  REQUIRE(fd);
  Epoll loop(*fd);
  std::latch start(3);
  std::atomic<int> refused{0};
  std::atomic<int> sent{0};
  std::atomic<int> received{0};
  std::atomic<bool> stalled{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      auto producer = broker.producer();
      start.arrive_and_wait();
      for (int i = 0; i < kPerProducer; ++i) {
        // Payload: producer and sequence, to check the sum and per-producer order.
        if (!producer.send("jobs", std::to_string(p * 1'000'000 + i))) refused.fetch_add(1);
        // Each message received before the next is sent: the loop keeps finding the queue empty and
        // going back to epoll_wait, and each send must wake it.
        const int ahead = sent.fetch_add(1) + 1;
        if (!eventually([&] { return received.load() >= ahead || stalled.load(); })) return;
        if (stalled.load()) return;
      }
    });
  }
  start.arrive_and_wait();
  long long sum = 0;
  int last[2] = {-1, -1};
  bool in_order = true;
  std::vector<Delivery> batch;
  batch.reserve(256);
  while (received < 2 * kPerProducer && refused.load() == 0) {
    // A lost wake-up would leave the loop here until the bound, and fail.
    INFO("received " << received.load() << " of " << 2 * kPerProducer);
    if (!loop.wait(20s)) {
      stalled.store(true);
      for (auto& t : producers) t.join();
      FAIL("the ready fd did not turn readable after a send");
    }
    for (;;) {
      batch.clear();
      auto got = consumer.receive(batch, 256, 0s);
      if (!got) {
        REQUIRE(got.code() == Errc::timed_out);
        break;
      }
      for (auto& d : batch) {
        const int value = std::stoi(text(d));
        const int producer = value / 1'000'000, seq = value % 1'000'000;
        in_order = in_order && seq == last[producer] + 1;
        last[producer] = seq;
        sum += seq;
        received.fetch_add(1);
      }
      REQUIRE(consumer.ack_all(batch));
    }
  }
  for (auto& t : producers) t.join();
  REQUIRE(refused.load() == 0);
  CHECK(in_order);
  CHECK(sum == 2LL * kPerProducer * (kPerProducer - 1) / 2);
}

TEST_CASE(
    "a group member's ready fd turns readable on an append and is cleared by an empty "
    "poll") {
  Broker broker;
  broker.declare_topic("events", {.partitions = 2});
  auto producer = broker.producer();
  auto member = broker.group_consumer("events", "g", {.start = Start::earliest});
  auto fd = member.ready_fd();
  REQUIRE(fd);
  CHECK(readable_now(*fd));
  auto first = member.poll(10, 0s);  // learns its assignment
  REQUIRE(first);
  auto empty = member.poll(10, 0s);
  REQUIRE(empty);
  REQUIRE(empty->empty());
  CHECK_FALSE(readable_now(*fd));
  REQUIRE(producer.send("events", "e1"));
  Epoll loop(*fd);
  REQUIRE(loop.wait(10s));
  auto got = member.poll(10, 0s);
  REQUIRE(got);
  CHECK(got->size() == 1);
  auto none = member.poll(10, 0s);
  REQUIRE(none);
  CHECK(none->empty());
  CHECK_FALSE(loop.wait(0ms));
  SECTION("wakeup() makes it readable") {
    member.wakeup();
    CHECK(loop.wait(10s));
  }
  SECTION("closing the member leaves it readable for good") {
    member.close();
    REQUIRE(loop.wait(10s));
    CHECK(member.poll(10, 0s).code() == Errc::closed);
  }
  SECTION("deleting the topic leaves it readable for good") {
    broker.delete_topic("events");
    REQUIRE(loop.wait(10s));
    CHECK(member.poll(10, 0s).code() == Errc::closed);
    CHECK(loop.wait(0ms));
  }
}
