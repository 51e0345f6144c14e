// Topic under concurrency: several producers, groups of members, exact accounting, per-key
// order. Runs under ThreadSanitizer too (scaled down).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "support/figures.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr std::uint64_t kTotal = 1'000'000;  // ~8 s under TSan on 2 cores
#else
constexpr std::uint64_t kTotal = 2'000'000;
#endif
constexpr std::uint64_t kProducers = 2;
constexpr std::uint64_t kKeysPerProducer = 64;
constexpr auto kLimit = std::chrono::seconds(120);

// Catch2's assertions are not thread-safe: worker threads count failures here instead.
std::atomic<std::uint64_t> thread_failures{0};

std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) {
  return producer << 40 | seq;
}

std::uint64_t decode(const Record& r) {
  std::uint64_t v = 0;
  if (r.payload().size() != sizeof v) {
    thread_failures.fetch_add(1);
    return 0;
  }
  std::memcpy(&v, r.payload().bytes().data(), sizeof v);
  return v;
}

void produce(Broker& broker, std::uint64_t producer, std::uint64_t count) {
  auto p = broker.producer();
  char key[32];
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    const std::uint64_t v = encode(producer, seq);
    const int n =
        std::snprintf(key, sizeof key, "p%llu-k%llu", static_cast<unsigned long long>(producer),
                      static_cast<unsigned long long>(seq % kKeysPerProducer));
    if (!p.send("stress", std::as_bytes(std::span(&v, 1)),
                {.key = std::string_view(key, static_cast<std::size_t>(n))})) {
      thread_failures.fetch_add(1);
    }
  }
}

/// Per group: how many times each record was seen, and what was reported missed.
struct Ledger {
  explicit Ledger(std::uint64_t per_producer)
      : per_producer(per_producer), seen(kProducers * per_producer) {}
  std::uint64_t per_producer;
  std::vector<std::atomic<std::uint32_t>> seen;
  std::atomic<std::uint64_t> unique{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> missed{0};
  void record(std::uint64_t v) {
    const std::uint64_t index = (v >> 40) * per_producer + (v & ((1ull << 40) - 1));
    if (index >= seen.size()) {
      thread_failures.fetch_add(1);
      return;
    }
    if (seen[index].fetch_add(1) == 0) {
      unique.fetch_add(1);
    } else {
      duplicates.fetch_add(1);
    }
  }
  [[nodiscard]] bool done() const { return unique.load() + missed.load() >= seen.size(); }
};

/// Checks that each key's sequence numbers rise, as seen by one member.
struct KeyOrder {
  std::vector<std::int64_t> last = std::vector<std::int64_t>(kProducers * kKeysPerProducer, -1);
  void check(std::uint64_t v) {
    const std::uint64_t producer = v >> 40, seq = v & ((1ull << 40) - 1);
    auto& l = last[producer * kKeysPerProducer + seq % kKeysPerProducer];
    if (static_cast<std::int64_t>(seq) <= l) thread_failures.fetch_add(1);
    l = static_cast<std::int64_t>(seq);
  }
};

bool before(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::steady_clock::now() < deadline;
}

}  // namespace

TEST_CASE(
    "2 producers - a stable group and a churning group: every record is accounted for - keys in "
    "order") {
  thread_failures.store(0);
  Broker broker;
  auto topic = broker.declare_topic("stress", {.partitions = 4, .retention = {.records = 1 << 20}});
  const std::uint64_t per_producer = kTotal / kProducers;
  Ledger stable(per_producer), churning(per_producer);
  const auto deadline = std::chrono::steady_clock::now() + kLimit;

  // Both stable members join before anything is sent, so no partition changes hands.
  std::vector<GroupConsumer> stable_members;
  for (int i = 0; i < 2; ++i) {
    stable_members.push_back(broker.group_consumer("stress", "stable", {.start = Start::earliest}));
  }
  auto churn_anchor = broker.group_consumer("stress", "churning", {.start = Start::earliest});

  std::atomic<bool> produced{false};
  std::vector<std::thread> threads;
  for (auto& member : stable_members) {
    threads.emplace_back([&, m = &member] {
      KeyOrder order;
      while (!stable.done() && before(deadline)) {
        auto batch = m->poll(512, std::chrono::milliseconds(20));
        if (!batch) {
          thread_failures.fetch_add(1);
          return;
        }
        stable.missed.fetch_add(batch->missed_count());
        for (const auto& r : *batch) {
          const std::uint64_t v = decode(r);
          stable.record(v);
          order.check(v);
        }
        if (!m->commit()) thread_failures.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    while (!churning.done() && before(deadline)) {
      auto batch = churn_anchor.poll(512, std::chrono::milliseconds(20));
      if (!batch) {
        thread_failures.fetch_add(1);
        return;
      }
      churning.missed.fetch_add(batch->missed_count());
      for (const auto& r : *batch) churning.record(decode(r));
      (void)churn_anchor.commit();  // may lose partitions to the churner: not_owner is fine
    }
  });
  std::atomic<std::uint64_t> joins{0};
  threads.emplace_back([&] {
    // Joins and leaves the churning group over and over while records flow.
    while (!produced.load() && before(deadline)) {
      auto member = broker.group_consumer("stress", "churning");
      joins.fetch_add(1);
      for (int i = 0; i < 3; ++i) {
        auto batch = member.poll(256, std::chrono::milliseconds(5));
        if (!batch) {
          thread_failures.fetch_add(1);
          return;
        }
        churning.missed.fetch_add(batch->missed_count());
        for (const auto& r : *batch) churning.record(decode(r));
        (void)member.commit();  // may lose partitions to a rebalance: not_owner is fine
      }
    }
  });
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> producers;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] { produce(broker, p, per_producer); });
  }
  for (auto& t : producers) t.join();
  produced.store(true);
  for (auto& t : threads) t.join();
  const double seconds = seconds_since(started);

  const auto stats = topic.stats();
  print_figures("topic_stress", {{"accepted", stats.appended},
                                 {"received", stable.unique.load()},
                                 {"lost", kTotal - stable.unique.load()},
                                 {"duplicates", stable.duplicates.load()},
                                 {"missed", stable.missed.load()},
                                 {"churn_joins", joins.load()},
                                 {"churn_redelivered", churning.duplicates.load()},
                                 {"msgs_per_s", static_cast<double>(kTotal) / seconds},
                                 {"seconds", seconds}});
  CHECK(thread_failures.load() == 0);
  CHECK(stats.appended == kTotal);
  CHECK(stable.unique.load() == kTotal);  // nothing lost ...
  CHECK(stable.duplicates.load() == 0);   // ... nothing twice in a stable group
  CHECK(stable.missed.load() == 0);
  CHECK(churning.unique.load() + churning.missed.load() >= kTotal);
  CHECK(churning.missed.load() == 0);  // retention holds everything here
  CHECK(churning.unique.load() == kTotal);
  const auto g = topic.group_stats("stable");
  REQUIRE(g);
  CHECK(g->lag == 0);
}

TEST_CASE("fan-out to 4 groups: each group reads every record once - in order per partition") {
  thread_failures.store(0);
  Broker broker;
  auto topic = broker.declare_topic("stress", {.partitions = 4, .retention = {.records = 1 << 20}});
  constexpr int kGroups = 4;
  const std::uint64_t total = kTotal / 2;
  std::vector<GroupConsumer> members;
  for (int g = 0; g < kGroups; ++g) {
    const std::string name(1, static_cast<char>('a' + g));
    members.push_back(broker.group_consumer("stress", name, {.start = Start::earliest}));
  }
  const auto deadline = std::chrono::steady_clock::now() + kLimit;
  std::vector<std::atomic<std::uint64_t>> counts(kGroups);
  std::vector<std::thread> threads;
  const auto started = std::chrono::steady_clock::now();
  for (int g = 0; g < kGroups; ++g) {
    threads.emplace_back([&, g] {
      std::vector<std::int64_t> last(4, -1);
      std::uint64_t n = 0;
      while (n < total && before(deadline)) {
        auto batch = members[g].poll(1024, std::chrono::milliseconds(20));
        if (!batch || !batch->missed().empty()) {
          thread_failures.fetch_add(1);
          return;
        }
        for (const auto& r : *batch) {
          if (static_cast<std::int64_t>(r.offset) != last[r.partition] + 1)
            thread_failures.fetch_add(1);
          last[r.partition] = static_cast<std::int64_t>(r.offset);
        }
        n += batch->size();
      }
      counts[g].store(n);
    });
  }
  {
    auto p = broker.producer();
    for (std::uint64_t i = 0; i < total; ++i) {
      if (!p.send("stress", std::as_bytes(std::span(&i, 1)))) thread_failures.fetch_add(1);
    }
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN("fan-out: " << total << " records to " << kGroups << " groups in " << seconds << " s: "
                   << static_cast<std::uint64_t>(total / seconds) << " records/s appended, "
                   << static_cast<std::uint64_t>(total * kGroups / seconds) << " records/s read");
  CHECK(thread_failures.load() == 0);
  for (int g = 0; g < kGroups; ++g) CHECK(counts[g].load() == total);
}

TEST_CASE("members that park between sparse appends are woken by every append - none is lost") {
  // Each round appends one record and waits until every member has read it; every few rounds
  // the producer pauses first, so the members have parked (not just spun or yielded). A lost
  // wake-up shows as a member's poll running into its timeout.
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr std::uint64_t kRounds = 100;
#else
  constexpr std::uint64_t kRounds = 600;
#endif
  constexpr int kMembers = 4;
  thread_failures.store(0);
  Broker broker;
  broker.declare_topic("sparse", {.partitions = 1});
  std::vector<GroupConsumer> members;
  for (int m = 0; m < kMembers; ++m) {
    const std::string name(1, static_cast<char>('a' + m));
    members.push_back(broker.group_consumer("sparse", name, {.start = Start::earliest}));
  }
  std::vector<std::atomic<std::uint64_t>> read(kMembers);
  std::vector<std::thread> threads;
  for (int m = 0; m < kMembers; ++m) {
    threads.emplace_back([&, m] {
      PollBatch batch;
      std::uint64_t n = 0;
      while (n < kRounds) {
        if (!members[m].poll(batch, 16, std::chrono::seconds(10)) || batch.empty()) {
          thread_failures.fetch_add(1);  // closed, or 10 s without the record: a lost wake-up
          return;
        }
        for (const auto& r : batch) {
          if (r.offset != n) thread_failures.fetch_add(1);
          ++n;
        }
        read[m].store(n, std::memory_order_release);
      }
    });
  }
  auto p = broker.producer();
  for (std::uint64_t i = 0; i < kRounds && thread_failures.load() == 0; ++i) {
    if (i % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));  // let them park
    if (!p.send("sparse", std::as_bytes(std::span(&i, 1)))) thread_failures.fetch_add(1);
    REQUIRE(eventually([&] {
      for (auto& r : read) {
        if (r.load(std::memory_order_acquire) <= i) return thread_failures.load() != 0;
      }
      return true;
    }));
  }
  for (auto& t : threads) t.join();
  CHECK(thread_failures.load() == 0);
}
