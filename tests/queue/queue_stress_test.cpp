// Many producers, many consumers, exact accounting. Run under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/figures.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

// The exactly-once test sends kTotal (~6 s under TSan, ~2 s in release on 2 cores); the
// others a fraction of it.
#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr std::uint64_t kTotal = 1'000'000;
#else
constexpr std::uint64_t kTotal = 10'000'000;
#endif

std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) {
  return producer << 40 | seq;
}

// Catch2's assertions are not thread-safe: worker threads count failures here instead, and
// the test thread checks the count.
std::atomic<std::uint64_t> thread_failures{0};

std::uint64_t decode(const Delivery& d) {
  std::uint64_t v = 0;
  if (d.payload().size() != sizeof v) {
    thread_failures.fetch_add(1);
    return 0;
  }
  std::memcpy(&v, d.payload().bytes().data(), sizeof v);
  return v;
}

void produce(Broker& broker, std::string_view queue, std::uint64_t producer, std::uint64_t count) {
  auto p = broker.producer();
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    const std::uint64_t v = encode(producer, seq);
    if (!p.send(queue, std::as_bytes(std::span(&v, 1)))) thread_failures.fetch_add(1);
  }
}

/// One counter per message: how many times it was acked.
struct Ledger {
  explicit Ledger(std::uint64_t producers, std::uint64_t per_producer)
      : per_producer(per_producer), acks(producers * per_producer) {}
  std::uint64_t per_producer;
  std::vector<std::atomic<std::uint32_t>> acks;
  std::atomic<std::uint64_t> unique{0};
  void record(std::uint64_t v) {
    const std::uint64_t index = (v >> 40) * per_producer + (v & ((1ull << 40) - 1));
    if (acks[index].fetch_add(1) == 0) unique.fetch_add(1);
  }
};

}  // namespace

TEST_CASE("2 producers x 2 consumers: every message is acked exactly once") {
  Broker broker;
  auto q = broker.declare_queue("stress", {.capacity = 4096, .prefetch = 64});
  constexpr std::uint64_t kProducers = 2;
  const std::uint64_t per_producer = kTotal / kProducers;
  Ledger ledger(kProducers, per_producer);
  // Per consumer: the sum of what it acked, and how often a producer's sequence went back.
  std::atomic<std::uint64_t> sum{0}, out_of_order{0};
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { produce(broker, "stress", p, per_producer); });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      auto consumer = broker.consumer("stress");
      std::vector<std::int64_t> last(kProducers, -1);
      std::uint64_t my_sum = 0, my_out_of_order = 0;
      while (ledger.unique.load() < kTotal) {
        auto batch = consumer.receive(32, std::chrono::milliseconds(50));
        if (!batch) continue;
        for (auto& d : *batch) {
          const std::uint64_t v = decode(d);
          const std::uint64_t producer = v >> 40;
          const auto seq = static_cast<std::int64_t>(v & ((1ull << 40) - 1));
          if (producer >= kProducers) {
            thread_failures.fetch_add(1);
            continue;
          }
          my_out_of_order += seq <= last[producer];
          last[producer] = seq;
          my_sum += static_cast<std::uint64_t>(seq);
          ledger.record(v);
          if (!d.ack()) thread_failures.fetch_add(1);
        }
      }
      sum.fetch_add(my_sum);
      out_of_order.fetch_add(my_out_of_order);
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = seconds_since(started);
  CHECK(thread_failures.exchange(0) == 0);
  std::uint64_t lost = 0, twice = 0;
  for (auto& a : ledger.acks) {
    lost += a.load() == 0;
    twice += a.load() > 1;
  }
  print_figures("queue_stress", {{"accepted", kTotal},
                                 {"acked", ledger.unique.load()},
                                 {"lost", lost},
                                 {"duplicates", twice},
                                 {"out_of_order", out_of_order.load()},
                                 {"msgs_per_s", static_cast<double>(kTotal) / seconds},
                                 {"seconds", seconds}});
  CHECK(lost == 0);
  CHECK(twice == 0);
  // FIFO per producer: a level-0 plain send goes to the SpillRing (its ring, or its spill),
  // never to the slow path that receives take first (queue_state.hpp, "Order at level 0").
  CHECK(out_of_order.load() == 0);
  // Each producer sent sequence numbers 0 .. per_producer - 1.
  CHECK(sum.load() == kProducers * (per_producer * (per_producer - 1) / 2));
  const auto s = q.stats();
  CHECK(s.acked == kTotal);
  CHECK(s.enqueued == kTotal);
  CHECK(s.depth == 0);
  CHECK(s.in_flight == 0);
}

TEST_CASE("consumers that nack at random or die mid-batch lose nothing: all acked at least once") {
  Broker broker;
  auto q =
      broker.declare_queue("chaos", {.capacity = 4096, .prefetch = 32, .visibility_timeout = 0s});
  constexpr std::uint64_t kProducers = 2;
  const std::uint64_t total = kTotal / 40;
  const std::uint64_t per_producer = total / kProducers;
  Ledger ledger(kProducers, per_producer);
  std::atomic<std::uint64_t> deaths{0};
  std::atomic<std::uint64_t> nacks{0};
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { produce(broker, "chaos", p, per_producer); });
  }
  for (int c = 0; c < 3; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 random(static_cast<std::uint64_t>(c) * 7919 + 1);
      while (ledger.unique.load() < total) {
        auto consumer = broker.consumer("chaos");
        bool alive = true;
        while (alive && ledger.unique.load() < total) {
          auto batch = consumer.receive(16, std::chrono::milliseconds(20));
          if (!batch) continue;
          for (auto& d : *batch) {
            const auto roll = random() % 1000;
            if (roll < 2) {
              alive = false;  // dies holding the rest of the batch, unacked
              deaths.fetch_add(1);
              break;
            }
            if (roll < 12) {
              if (!d.nack()) thread_failures.fetch_add(1);
              nacks.fetch_add(1);
              continue;
            }
            const std::uint64_t v = decode(d);
            if (d.ack()) ledger.record(v);
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(thread_failures.exchange(0) == 0);
  std::uint64_t missing = 0;
  std::uint64_t duplicates = 0;
  for (auto& a : ledger.acks) {
    missing += a.load() == 0;
    duplicates += a.load() > 1 ? a.load() - 1 : 0;
  }
  const auto s = q.stats();
  print_figures("queue_stress_chaos", {{"accepted", total},
                                       {"acked", s.acked},
                                       {"redelivered", s.redelivered},
                                       {"consumer_deaths", deaths.load()},
                                       {"nacks", nacks.load()},
                                       {"lost", missing},
                                       {"duplicates", duplicates}});
  CHECK(missing == 0);
  // Acks are exactly-once per delivery; a message is acked once even if delivered many times.
  CHECK(duplicates == 0);
  CHECK(s.acked == total);
  CHECK(s.redelivered >= nacks.load());
}

TEST_CASE("with one consumer and one priority - each producer's messages arrive in send order") {
  Broker broker;
  broker.declare_queue("ordered", {.capacity = 1024});
  constexpr std::uint64_t kProducers = 4;
  const std::uint64_t per_producer = kTotal / 100 / kProducers;
  std::vector<std::thread> producers;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] { produce(broker, "ordered", p, per_producer); });
  }
  auto consumer = broker.consumer("ordered", {.prefetch = 128});
  std::vector<std::uint64_t> next(kProducers, 0);
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  while (received < per_producer * kProducers) {
    auto batch = consumer.receive(64, std::chrono::seconds(10));
    REQUIRE(batch);
    for (auto& d : *batch) {
      const std::uint64_t v = decode(d);
      const std::uint64_t p = v >> 40;
      out_of_order += (v & ((1ull << 40) - 1)) != next[p];
      next[p] = (v & ((1ull << 40) - 1)) + 1;
      REQUIRE(d.ack());
      ++received;
    }
  }
  for (auto& t : producers) t.join();
  CHECK(thread_failures.exchange(0) == 0);
  CHECK(out_of_order == 0);
}

// Wake-ups across threads. The waiting thread is made to fall asleep first (its spin and
// yield phases would otherwise catch the other thread's move), so each round tests the futex
// wake-up itself. A lost wake-up shows as a receive that waits out its 20 s timeout and fails,
// or as a sender that sleeps out its 20 s send_timeout every round (its last look then finds
// room), which runs the test past CTest's limit. Nothing here relies on a clock to pass.

namespace {

/// Waits, up to `limit`, until thread `tid` of this process sleeps in the kernel (for a
/// receive or a blocked send: parked on its futex). False if it did not within `limit`.
bool wait_until_asleep(pid_t tid, std::chrono::milliseconds limit) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    std::ifstream stat(path);
    std::string line;
    std::getline(stat, line);
    // "tid (name) S ...": the state follows the last ')'.
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S') {
      return true;
    }
    std::this_thread::yield();
  }
  return false;
}

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kWakeRounds = 50;
#else
constexpr int kWakeRounds = 300;
#endif

}  // namespace

TEST_CASE("a receive asleep at its prefetch limit wakes on each ack made by another thread") {
  Broker broker;
  broker.declare_queue("jobs", {.visibility_timeout = 0s});
  auto producer = broker.producer();
  for (int i = 0; i <= kWakeRounds; ++i) REQUIRE(producer.send("jobs", std::to_string(i)));
  auto consumer = broker.consumer("jobs", {.prefetch = 1, .wait = WaitStrategy::park});
  std::atomic<pid_t> receiver_tid{0};
  std::atomic<int> failures{0};
  std::vector<Delivery> held(kWakeRounds + 1);
  std::atomic<int> received{0};  // release: publishes held[received - 1]
  std::thread receiver([&] {
    receiver_tid.store(static_cast<pid_t>(::gettid()));
    for (int i = 0; i <= kWakeRounds; ++i) {
      auto d = consumer.receive(20s);  // from the second on: waits for this thread's ack
      if (!d || text(*d) != std::to_string(i)) {
        failures.fetch_add(1);
        return;
      }
      held[static_cast<std::size_t>(i)] = std::move(*d);
      received.store(i + 1, std::memory_order_release);
    }
  });
  int asleep = 0;
  int acked = 0;
  for (; acked < kWakeRounds && failures.load() == 0; ++acked) {
    while (received.load(std::memory_order_acquire) <= acked && failures.load() == 0) {
      std::this_thread::yield();
    }
    if (failures.load() != 0) break;
    if (wait_until_asleep(receiver_tid.load(), 2000ms)) ++asleep;
    if (!held[static_cast<std::size_t>(acked)].ack()) break;
  }
  receiver.join();
  CHECK(failures.load() == 0);
  CHECK(acked == kWakeRounds);
  CHECK(asleep > 0);  // the rounds did test the parked path
}

TEST_CASE("a sender asleep on a full queue wakes on each take made by another thread") {
  Broker broker;
  broker.declare_queue("narrow", {.capacity = 1, .overflow = Overflow::block, .send_timeout = 20s});
  std::atomic<pid_t> sender_tid{0};
  std::atomic<int> failures{0};
  std::atomic<int> sent{0};
  std::thread sender([&] {
    sender_tid.store(static_cast<pid_t>(::gettid()));
    auto producer = broker.producer();
    for (int i = 0; i <= kWakeRounds; ++i) {
      sent.store(i, std::memory_order_relaxed);
      if (!producer.send("narrow", std::to_string(i))) failures.fetch_add(1);  // waits for room
    }
  });
  auto consumer = broker.consumer("narrow", {.wait = WaitStrategy::park});
  int asleep = 0;
  int received = 0;
  for (; received <= kWakeRounds; ++received) {
    // Once the sender is on the next message it waits for this take: let it fall asleep first.
    if (received < kWakeRounds) {
      while (sent.load(std::memory_order_relaxed) <= received && failures.load() == 0) {
        std::this_thread::yield();
      }
      if (wait_until_asleep(sender_tid.load(), 2000ms)) ++asleep;
    }
    auto d = consumer.receive(20s);
    if (!d || text(*d) != std::to_string(received) || !d->ack()) break;
  }
  sender.join();
  CHECK(failures.load() == 0);
  CHECK(received == kWakeRounds + 1);
  CHECK(asleep > 0);
}
