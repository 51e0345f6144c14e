// Many producers, many consumers, exact accounting. Run under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace switchyard;
using namespace switchyard::testing;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr std::uint64_t kTotal = 60'000;
#else
constexpr std::uint64_t kTotal = 1'000'000;
#endif

std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) { return producer << 40 | seq; }

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
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { produce(broker, "stress", p, per_producer); });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      auto consumer = broker.consumer("stress");
      while (ledger.unique.load() < kTotal) {
        auto batch = consumer.receive(32, std::chrono::milliseconds(50));
        if (!batch) continue;
        for (auto& d : *batch) {
          ledger.record(decode(d));
          if (!d.ack()) thread_failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(thread_failures.exchange(0) == 0);
  std::uint64_t twice = 0;
  for (auto& a : ledger.acks) twice += a.load() != 1;
  CHECK(twice == 0);
  const auto s = q.stats();
  CHECK(s.acked == kTotal);
  CHECK(s.enqueued == kTotal);
  CHECK(s.depth == 0);
  CHECK(s.in_flight == 0);
}

TEST_CASE("consumers that nack at random or die mid-batch lose nothing: all acked at least once") {
  Broker broker;
  auto q = broker.declare_queue("chaos", {.capacity = 4096, .prefetch = 32, .visibility_timeout = 0s});
  constexpr std::uint64_t kProducers = 2;
  const std::uint64_t total = kTotal / 4;
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
  INFO("deaths " << deaths.load() << ", nacks " << nacks.load() << ", redelivered "
                 << s.redelivered);
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
  const std::uint64_t per_producer = kTotal / 10 / kProducers;
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
