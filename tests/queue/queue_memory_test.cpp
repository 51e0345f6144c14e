// Memory follows what is queued: capacity, prefetch and subscriber buffers are limits, not
// reservations; past the queue's ring, messages wait in its spill lane with every ordering
// rule kept; running out of memory is Errc::out_of_memory.
//
// This file replaces the global operator new (outside sanitizer builds) to count the bytes
// allocated and to make allocations fail on request.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <latch>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"
#include "sync/spill_ring.hpp"

namespace {
std::atomic<std::uint64_t> bytes_allocated{0};
// Allocations of at least this many bytes fail (small ones, such as an error's text, do not).
std::atomic<std::size_t> fail_from_bytes{SIZE_MAX};
#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr bool kCountsBytes = false;
#else
constexpr bool kCountsBytes = true;
#endif
}  // namespace

#ifndef SWITCHYARD_SANITIZER_BUILD
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  // Counters and a switch only: no ordering needed.
  if (size >= fail_from_bytes.load(std::memory_order_relaxed)) throw std::bad_alloc();
  bytes_allocated.fetch_add(size, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  if (size >= fail_from_bytes.load(std::memory_order_relaxed)) throw std::bad_alloc();
  bytes_allocated.fetch_add(size, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop
#endif

namespace switchyard {
namespace {

using namespace std::chrono_literals;
using test::code_of;
using test::text;

/// Bytes `f` made the process allocate: counted by operator new, or (under a sanitizer, which
/// brings its own) the growth of the resident set, which the old ring's constructor (it writes
/// every cell) also shows.
template <class F>
std::uint64_t memory_used_by(F&& f) {
  auto resident = [] {
    long pages = 0, rss = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld %ld", &pages, &rss) != 2) rss = 0;
      std::fclose(statm);
    }
    return static_cast<std::uint64_t>(rss) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  };
  const std::uint64_t bytes_before = bytes_allocated.load();
  const std::uint64_t rss_before = resident();
  f();
  if (kCountsBytes) return bytes_allocated.load() - bytes_before;
  const std::uint64_t rss_after = resident();
  return rss_after > rss_before ? rss_after - rss_before : 0;
}

constexpr std::uint64_t kMiB = 1024 * 1024;

std::string seq_text(int producer, int seq) {
  std::string out = std::to_string(producer);
  out += ':';
  out += std::to_string(seq);
  return out;
}
std::pair<int, int> parse(const std::string& s) {
  const auto colon = s.find(':');
  return {std::stoi(s.substr(0, colon)), std::stoi(s.substr(colon + 1))};
}

// --- declare costs nothing in proportion to a limit ------------------------------------

TEST_CASE("declaring a queue of capacity 2^32 or 2^27 allocates less than 4 MiB") {
  Broker broker;
  for (const std::size_t capacity : {std::size_t{1} << 32, std::size_t{1} << 27}) {
    INFO("capacity " << capacity);
    const std::uint64_t used = memory_used_by(
        [&] { broker.declare_queue(std::to_string(capacity), {.capacity = capacity}); });
    CHECK(used < 4 * kMiB);
  }
  // And it works: a message goes through.
  auto producer = broker.producer();
  REQUIRE(producer.send("4294967296", "hello"));
  auto consumer = broker.consumer("4294967296");
  auto d = consumer.receive(1s);
  REQUIRE(d);
  CHECK(text(*d) == "hello");
}

TEST_CASE("a consumer with a prefetch of 2^20 allocates its slots only as it holds deliveries") {
  Broker broker;
  broker.declare_queue("q", {.capacity = 1 << 20, .prefetch = 1 << 20});
  std::optional<Consumer> consumer;
  CHECK(memory_used_by([&] { consumer.emplace(broker.consumer("q")); }) < 4 * kMiB);
  // The window still grows to hold more than its first chunk of slots.
  auto producer = broker.producer();
  constexpr int kHeld = 3000;
  for (int i = 0; i < kHeld; ++i) REQUIRE(producer.send("q", std::to_string(i)));
  std::vector<Delivery> held;
  for (int i = 0; i < kHeld; ++i) {
    auto d = consumer->receive(1s);
    REQUIRE(d);
    CHECK(text(*d) == std::to_string(i));
    held.push_back(std::move(*d));
  }
  CHECK(broker.queue("q").stats().in_flight == kHeld);
  for (auto& d : held) REQUIRE(d.ack());
  CHECK(broker.queue("q").stats().acked == kHeld);
}

TEST_CASE("a subscriber with a buffer of 2^32 allocates less than 4 MiB and buffers past 4096") {
  Broker broker;
  std::latch entered(1);
  std::latch release(1);
  std::atomic<int> seen{0};
  std::optional<Subscription> subscription;
  const std::uint64_t used = memory_used_by([&] {
    subscription.emplace(
        broker.subscribe("c",
                         [&](const Message&) {
                           if (seen.fetch_add(1) == 0) {
                             entered.count_down();
                             release.wait();
                           }
                         },
                         {.buffer = std::size_t{1} << 32, .when_full = SlowSubscriber::drop}));
  });
  CHECK(used < 4 * kMiB);
  REQUIRE(broker.publish("c", "first") == 1);
  entered.wait();  // the handler holds the first; the rest wait in the buffer
  constexpr int kMore = 10'000;
  for (int i = 0; i < kMore; ++i) REQUIRE(broker.publish("c", "m") == 1);
  CHECK(subscription->stats().dropped == 0);
  CHECK(subscription->stats().buffered == kMore);
  release.count_down();
  REQUIRE(test::eventually([&] { return seen.load() == kMore + 1; }));
}

TEST_CASE("a subscriber buffer of 5000 holds exactly 5000 past its ring and drops the rest") {
  Broker broker;
  std::latch entered(1);
  std::latch release(1);
  std::atomic<int> seen{0};
  auto subscription = broker.subscribe("c",
                                       [&](const Message&) {
                                         if (seen.fetch_add(1) == 0) {
                                           entered.count_down();
                                           release.wait();
                                         }
                                       },
                                       {.buffer = 5000, .when_full = SlowSubscriber::drop});
  REQUIRE(broker.publish("c", "first") == 1);
  entered.wait();
  std::size_t buffered = 0;
  for (int i = 0; i < 6000; ++i) buffered += broker.publish("c", "m");
  CHECK(buffered == 5000);
  CHECK(subscription.stats().dropped == 1000);
  release.count_down();
  REQUIRE(test::eventually([&] { return seen.load() == 5001; }));
}

// --- the spill lane keeps every ordering rule ------------------------------------------

TEST_CASE("a queue filled past its ring keeps FIFO per level, redeliveries first, capacity exact") {
  Broker broker;
  constexpr int kCapacity = 3 * int{detail::SpillRing<Message>::kMaxRingCells};
  broker.declare_queue("q", {.capacity = kCapacity, .overflow = Overflow::reject, .prefetch = 4});
  auto producer = broker.producer();
  // Every 7th message at priority 5, the rest at 0; all numbered in send order.
  std::vector<int> high, low;
  for (int i = 0; i < kCapacity; ++i) {
    const std::uint8_t priority = i % 7 == 0 ? 5 : 0;
    REQUIRE(producer.send("q", std::to_string(i), {.priority = priority}));
    (priority != 0 ? high : low).push_back(i);
  }
  CHECK(broker.queue("q").depth() == kCapacity);
  auto refused = producer.send("q", "one too many");
  REQUIRE(!refused);
  CHECK(refused.code() == Errc::full);

  auto consumer = broker.consumer("q");
  auto next = [&] {
    auto d = consumer.receive(1s);
    REQUIRE(d);
    return std::move(*d);
  };
  for (int expected : high) {
    auto d = next();
    REQUIRE(text(d) == std::to_string(expected));
    REQUIRE(d.ack());
  }
  // A nacked priority-0 message goes ahead of the new ones still queued at its level, in the
  // ring and in the spill alike.
  auto first = next();
  REQUIRE(text(first) == std::to_string(low[0]));
  REQUIRE(first.nack());
  auto again = next();
  CHECK(text(again) == std::to_string(low[0]));
  CHECK(again.attempt() == 2);
  REQUIRE(again.ack());
  // Room for one again: a send is accepted and goes behind everything queued.
  REQUIRE(producer.send("q", "last"));
  for (std::size_t k = 1; k < low.size(); ++k) {
    auto d = next();
    REQUIRE(text(d) == std::to_string(low[k]));
    REQUIRE(d.ack());
  }
  auto last = next();
  CHECK(text(last) == "last");
  REQUIRE(last.ack());
  CHECK(broker.queue("q").depth() == 0);
}

TEST_CASE("batch sends and batch receives across the ring and the spill keep send order") {
  Broker broker;
  constexpr int kMessages = 5 * int{detail::SpillRing<Message>::kMaxRingCells};
  broker.declare_queue("q", {.capacity = kMessages, .prefetch = 64});
  auto producer = broker.producer();
  std::vector<std::string> texts;
  for (int i = 0; i < kMessages; ++i) texts.push_back(std::to_string(i));
  for (int i = 0; i < kMessages; i += 64) {
    std::vector<std::string_view> batch(texts.begin() + i, texts.begin() + i + 64);
    auto sent = producer.send_batch("q", batch);
    REQUIRE(sent);
    REQUIRE(*sent == 64);
  }
  auto consumer = broker.consumer("q");
  std::vector<Delivery> out;
  out.reserve(64);
  int expected = 0;
  while (expected < kMessages) {
    out.clear();
    REQUIRE(consumer.receive(out, 64, 1s));
    for (const auto& d : out) REQUIRE(text(d) == std::to_string(expected++));
    REQUIRE(consumer.ack_all(out));
  }
  CHECK(broker.queue("q").depth() == 0);
}

TEST_CASE("a sender blocked on a queue full past its ring is woken by a take from the spill") {
  Broker broker;
  constexpr int kCapacity = 2 * int{detail::SpillRing<Message>::kMaxRingCells};
  broker.declare_queue("q", {.capacity = kCapacity, .send_timeout = 30s});
  auto producer = broker.producer();
  for (int i = 0; i < kCapacity; ++i) REQUIRE(producer.send("q", std::to_string(i)));
  auto blocked = std::async(std::launch::async, [&] { return producer.send("q", "late"); });
  auto consumer = broker.consumer("q");
  for (int i = 0; i < kCapacity; ++i) {
    auto d = consumer.receive(1s);
    REQUIRE(d);
    REQUIRE(text(*d) == std::to_string(i));
    REQUIRE(d->ack());
  }
  REQUIRE(blocked.wait_for(20s) == std::future_status::ready);
  CHECK(blocked.get());
  auto d = consumer.receive(1s);
  REQUIRE(d);
  CHECK(text(*d) == "late");
}

TEST_CASE("producers and consumers across the ring/spill boundary: each message once, in order") {
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kPerProducer = 20'000;
#else
  constexpr int kPerProducer = 200'000;
#endif
  constexpr int kProducers = 3;
  constexpr int kConsumers = 2;
  Broker broker;
  // Capacity far above the ring, and the consumers start only once a backlog has spilled.
  broker.declare_queue("q", {.capacity = 64 * 1024, .send_timeout = 60s, .prefetch = 64});
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      auto producer = broker.producer();
      for (int i = 0; i < kPerProducer; ++i) {
        if (!producer.send("q", seq_text(p, i))) FAIL_CHECK("send " << p << ":" << i << " failed");
      }
    });
  }
  REQUIRE(test::eventually([&] { return broker.queue("q").depth() >= 3 * 4096; }));
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> sum{0};
  std::atomic<int> disorder{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      auto consumer = broker.consumer("q");
      std::vector<int> last(kProducers, -1);
      std::vector<Delivery> out;
      out.reserve(32);
      const std::uint64_t total = std::uint64_t{kProducers} * kPerProducer;
      while (received.load() < total) {
        out.clear();
        if (c == 0) {
          auto d = consumer.receive(50ms);
          if (d) out.push_back(std::move(*d));
        } else {
          (void)consumer.receive(out, 32, 50ms);  // timed_out is fine: the total counts the rest
        }
        for (const auto& d : out) {
          const auto [p, i] = parse(text(d));
          if (i <= last[p]) disorder.fetch_add(1);
          last[p] = i;
          sum.fetch_add(static_cast<std::uint64_t>(i));
        }
        if (!consumer.ack_all(out)) FAIL_CHECK("ack failed");
        received.fetch_add(out.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& t : consumers) t.join();
  const std::uint64_t n = kPerProducer;
  CHECK(received.load() == kProducers * n);
  CHECK(sum.load() == kProducers * (n * (n - 1) / 2));
  CHECK(disorder.load() == 0);
  CHECK(broker.queue("q").depth() == 0);
  CHECK(broker.queue("q").stats().acked == kProducers * n);
}

// --- the spill ring itself -------------------------------------------------------------

TEST_CASE("a spill ring pops a backlog larger than its ring in push order") {
  detail::SpillRing<std::uint32_t> ring(1'000'000);
  REQUIRE(ring.ring_capacity() == detail::SpillRing<std::uint32_t>::kMaxRingCells);
  constexpr std::uint32_t kItems = 20'000;
  std::uint32_t next_in = 0, next_out = 0;
  // Pushes and pops interleaved so the backlog crosses the ring size several times.
  while (next_out < kItems) {
    for (int k = 0; k < 7 && next_in < kItems; ++k)
      REQUIRE(ring.try_push(std::uint32_t{next_in++}));
    for (int k = 0; k < 3; ++k) {
      std::uint32_t v = 0;
      if (!ring.try_pop(v)) break;
      REQUIRE(v == next_out++);
    }
    std::uint32_t batch[5];
    std::size_t got = 0;
    ring.try_pop_run(5, [&](std::uint32_t&& v) noexcept { batch[got++] = v; });
    for (std::size_t k = 0; k < got; ++k) REQUIRE(batch[k] == next_out++);
  }
  CHECK(ring.size_guess() == 0);
  CHECK(ring.spilled_guess() == 0);
}

TEST_CASE("a spill ring's push runs fill its ring, spill the rest and pop in push order") {
  detail::SpillRing<std::uint32_t> ring(1'000'000);
  constexpr std::uint32_t kItems = 20'000;
  std::uint32_t next_in = 0, next_out = 0;
  // Runs of 1 to 61 pushed, fewer popped, so runs land across the ring/spill boundary, then
  // while the spill is non-empty, and the backlog crosses the ring size several times.
  while (next_out < kItems) {
    std::uint32_t run[61];
    const std::size_t n = std::min<std::size_t>(1 + next_in % 61, kItems - next_in);
    for (std::size_t k = 0; k < n; ++k) run[k] = next_in + static_cast<std::uint32_t>(k);
    REQUIRE(ring.try_push_run(run, n) == n);
    next_in += static_cast<std::uint32_t>(n);
    for (int k = 0; k < 20; ++k) {
      std::uint32_t v = 0;
      if (!ring.try_pop(v)) break;
      REQUIRE(v == next_out++);
    }
  }
  CHECK(ring.size_guess() == 0);
  CHECK(ring.spilled_guess() == 0);
}

TEST_CASE("a spill ring with a limit refuses at the limit, past its ring") {
  detail::SpillRing<std::uint32_t> ring(5000);
  using Push = detail::SpillRing<std::uint32_t>::Push;
  for (std::uint32_t i = 0; i < 5000; ++i)
    REQUIRE(ring.try_push_within(std::uint32_t{i}, 5000) == Push::done);
  CHECK(ring.try_push_within(5000, 5000) == Push::full);
  std::uint32_t v = 0;
  REQUIRE(ring.try_pop(v));
  CHECK(v == 0);
  CHECK(ring.try_push_within(5000, 5000) == Push::done);
}

// --- running out of memory -------------------------------------------------------------

TEST_CASE(
    "a send that finds no memory for the spill fails with out_of_memory and gives its room back") {
  if (!kCountsBytes) return;  // the failure is injected through our operator new
  Broker broker;
  constexpr int kRing = int{detail::SpillRing<Message>::kMaxRingCells};
  broker.declare_queue("q", {.capacity = 2 * kRing, .overflow = Overflow::reject});
  auto producer = broker.producer();
  for (int i = 0; i < kRing; ++i) REQUIRE(producer.send("q", "x"));  // the ring is full now
  // Each send now spills; within a block of the spill's deque one needs a new block.
  std::size_t depth = kRing;
  Errc code = Errc::ok;
  for (int i = 0; i < 1000 && code == Errc::ok; ++i) {
    fail_from_bytes = 256;
    auto sent = producer.send("q", "y");
    fail_from_bytes = SIZE_MAX;
    if (sent) ++depth;
    code = sent.code();
  }
  CHECK(code == Errc::out_of_memory);
  CHECK(broker.queue("q").depth() == depth);  // the reservation was given back
  CHECK(broker.queue("q").stats().rejected_full == 0);
  CHECK(producer.send("q", "z"));  // memory is back: it spills and is accepted
  CHECK(broker.queue("q").depth() == depth + 1);
}

TEST_CASE("declaring a queue without memory throws Error(out_of_memory), never std::bad_alloc") {
  if (!kCountsBytes) return;
  Broker broker;
  Errc code = Errc::ok;
  fail_from_bytes = 256;  // the queue's state is larger
  try {
    broker.declare_queue("q");
  } catch (const Error& e) {
    code = e.code();
  } catch (const std::bad_alloc&) {
    code = Errc::full;  // anything but out_of_memory
  }
  fail_from_bytes = SIZE_MAX;
  CHECK(code == Errc::out_of_memory);
  CHECK(to_string(Errc::out_of_memory) == "out_of_memory");
}

}  // namespace
}  // namespace switchyard
