// benchmarks/growth.cpp — how cost grows with the work (issue 17 §3): one family per axis, each
// a curve over its argument (Google Benchmark's `/<N>` suffix), drawn by benchmarks/plot into
// build/bench/growth.png and tabled in docs/benchmarks.md. Each point reports `ns_per_op` (one
// operation: see each family); flatness (largest / smallest) is judged by benchmarks/compare.
//
//   growth_backlog/switchyard/<B>       send + receive + ack of one 64-byte message, one thread,
//                                       on a queue that holds B messages (FIFO: the oldest is
//                                       received). O(1) by design.
//   growth_destinations/switchyard/<N>  one send, round-robin over 64 of N declared queues
//                                       (plus N topics declared, unused) with capacity 16 and
//                                       drop_oldest, through one producer. O(1) by design.
//   growth_bindings/switchyard/<N>      one send to a topic exchange with N bindings
//                                       (`k.<i>.*` to one queue); the key (1,024 of them,
//                                       spread over the bindings, in turn) matches one. O(words)
//                                       by design (a trie of words), flat in N. Also bind_ns:
//                                       the mean cost of each of the N binds (O(words) too).
//   growth_payload/switchyard/<P>       send + receive + ack of P bytes (16 B → 1 MiB), one
//                                       thread; also bytes_per_second. Peer: growth_payload/
//                                       memcpy/<P> (one copy of P bytes: the one copy a send
//                                       makes). Target ≥ 0.5× memcpy's bandwidth at 1 MiB.
//   growth_consumers/switchyard/<C>     1 producer, C consumer threads (1 → 64 on 2 cores) on
//                                       one queue, send → receive → ack; items_per_second is
//                                       total throughput. Target ≥ 0.5× of C = 1.
//   growth_rebalance/switchyard/<M>     M members join a group of a topic of M partitions;
//                                       ns_per_op = the whole join sequence / M. Sticky
//                                       assignment is O(M + P) per rebalance: O(M²) total.
//   growth_recovery/switchyard/<N>      opening a broker whose durable queue holds N unacked
//                                       64-byte messages; ns_per_op = the open. O(N) by design.
//   growth_metrics/switchyard/<N>       broker.metrics() with N queues declared; O(N) by design
//                                       (one labelled line per destination and counter).
//
// Points above $SWITCHYARD_BENCH_GROWTH_MAX (default 10,000,000) are skipped: lower it for a
// quick run. Fixtures (a filled queue, N declared destinations) are built once per point and
// kept for the process, so repetitions do not rebuild them.
#include <switchyard/switchyard.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

using namespace std::chrono_literals;

// One thread's cost per operation: measured in that thread's CPU time, not real time (on this
// shared VM real time adds whatever the scheduler took from the thread, which is not the
// curve). The families with several threads or with I/O (consumers, recovery) use real time.
#define GROWTH_BENCHMARK(name, ...)                                               \
  [[maybe_unused]] static ::benchmark::internal::Benchmark* SWITCHYARD_BENCH_CAT( \
      growth_registration_, __COUNTER__) = ::benchmark::RegisterBenchmark(name, __VA_ARGS__)

std::uint64_t growth_max() {
  return env_u64("SWITCHYARD_BENCH_GROWTH_MAX", 10'000'000);
}

bool skip_if_too_big(benchmark::State& state, std::uint64_t n) {
  if (n <= growth_max()) return false;
  state.SkipWithError("above SWITCHYARD_BENCH_GROWTH_MAX");
  return true;
}

std::string_view view(const Message64& m) {
  return {reinterpret_cast<const char*>(&m), sizeof m};
}

/// prefix + number + suffix (appended, not `+`-chained: GCC 12's -Wrestrict misfires on that).
std::string numbered(std::string_view prefix, std::uint64_t n, std::string_view suffix = {}) {
  std::string out(prefix);
  out.append(std::to_string(n));
  out.append(suffix);
  return out;
}

/// Sets items_per_second and ns_per_op (real time per operation) from `ops` done in total.
void report_ns_per_op(benchmark::State& state, std::uint64_t ops) {
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  state.counters["ns_per_op"] = benchmark::Counter(
      static_cast<double>(ops) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------- growth_backlog

struct Backlog {
  switchyard::Broker broker;
  switchyard::Producer producer = broker.producer();
  std::optional<switchyard::Consumer> consumer;
};

Backlog* backlog_of(std::uint64_t n) {
  static std::map<std::uint64_t, std::unique_ptr<Backlog>> cache;
  auto& slot = cache[n];
  if (slot) return slot.get();
  slot = std::make_unique<Backlog>();
  slot->broker.declare_queue("backlog", {.capacity = static_cast<std::size_t>(n) + 16});
  Message64 message;
  for (std::uint64_t i = 0; i < n; ++i) {
    message.seq = i;
    if (!slot->producer.send("backlog", view(message))) return nullptr;
  }
  slot->consumer.emplace(slot->broker.consumer("backlog", {.prefetch = 1}));
  return slot.get();
}

void growth_backlog(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  if (skip_if_too_big(state, n)) return;
  Backlog* b = backlog_of(n);
  if (b == nullptr) {
    state.SkipWithError("could not fill the backlog");
    return;
  }
  Message64 message;
  for (auto _ : state) {
    ++message.seq;
    auto sent = b->producer.send("backlog", view(message));
    auto d = b->consumer->receive(1s);
    if (!sent || !d || !d->ack()) {
      state.SkipWithError("send, receive or ack failed");
      return;
    }
  }
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
}

GROWTH_BENCHMARK("growth_backlog/switchyard", growth_backlog)
    ->RangeMultiplier(10)
    ->Range(1, 10'000'000);

// ---------------------------------------------------------------- growth_destinations

struct Declared {
  switchyard::Broker broker;
  std::vector<std::string> names;
};

Declared* declared_queues(std::uint64_t n, bool with_topics) {
  static std::map<std::pair<std::uint64_t, bool>, std::unique_ptr<Declared>> cache;
  auto& slot = cache[{n, with_topics}];
  if (slot) return slot.get();
  slot = std::make_unique<Declared>();
  for (std::uint64_t i = 0; i < n; ++i) {
    slot->names.push_back(numbered("q", i));
    slot->broker.declare_queue(slot->names.back(),
                               {.capacity = 16, .overflow = switchyard::Overflow::drop_oldest});
    if (with_topics) {
      slot->broker.declare_topic(numbered("t", i), {.partitions = 1});
    }
  }
  return slot.get();
}

void growth_destinations(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  if (skip_if_too_big(state, n)) return;
  Declared* d = declared_queues(n, true);
  // The sends go to kTouched of the N queues, spread over them: what is measured is the cost
  // of N being declared (the registry's look-up), not of N queues' memory being touched.
  constexpr std::uint64_t kTouched = 64;
  std::vector<std::string> targets;
  for (std::uint64_t i = 0; i < std::min(n, kTouched); ++i) {
    targets.push_back(d->names[i * (n / std::min(n, kTouched))]);
  }
  auto producer = d->broker.producer();
  Message64 message;
  std::size_t next = 0;
  for (auto _ : state) {
    ++message.seq;
    if (!producer.send(targets[next], view(message))) {
      state.SkipWithError("send failed");
      return;
    }
    if (++next == targets.size()) next = 0;
  }
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
}

GROWTH_BENCHMARK("growth_destinations/switchyard", growth_destinations)
    ->RangeMultiplier(10)
    ->Range(1, 100'000);

// ---------------------------------------------------------------- growth_bindings

struct Bound {
  switchyard::Broker broker;
  double bind_ns = 0;  // mean cost of one bind while the N were made
};

void growth_bindings(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  if (skip_if_too_big(state, n)) return;
  static std::map<std::uint64_t, std::unique_ptr<Bound>> cache;
  auto& bound = cache[n];
  if (!bound) {
    bound = std::make_unique<Bound>();
    bound->broker.declare_queue("sink",
                                {.capacity = 16, .overflow = switchyard::Overflow::drop_oldest});
    bound->broker.declare_exchange("x", switchyard::ExchangeType::topic);
    const std::int64_t start = now_ns();
    for (std::uint64_t i = 0; i < n; ++i) bound->broker.bind("x", "sink", numbered("k.", i, ".*"));
    bound->bind_ns = static_cast<double>(now_ns() - start) / static_cast<double>(n);
  }
  switchyard::Broker* broker = &bound->broker;
  std::vector<std::string> keys;
  for (std::uint64_t i = 0; i < std::min<std::uint64_t>(n, 1024); ++i) {
    keys.push_back(numbered("k.", i * (n / std::min<std::uint64_t>(n, 1024)), ".z"));
  }
  auto producer = broker->producer();
  Message64 message;
  std::size_t next = 0;
  for (auto _ : state) {
    ++message.seq;
    if (!producer.send("x", view(message), {.key = keys[next]})) {
      state.SkipWithError("send failed");
      return;
    }
    if (++next == keys.size()) next = 0;
  }
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
  state.counters["bind_ns"] = bound->bind_ns;
}

GROWTH_BENCHMARK("growth_bindings/switchyard", growth_bindings)
    ->RangeMultiplier(10)
    ->Range(1, 100'000);

// ---------------------------------------------------------------- growth_payload

void growth_payload(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  switchyard::Broker broker;
  broker.declare_queue("payload", {.capacity = 16});
  auto producer = broker.producer();
  auto consumer = broker.consumer("payload", {.prefetch = 1});
  std::vector<char> payload(size, 'p');
  for (auto _ : state) {
    auto sent = producer.send("payload", std::string_view(payload.data(), size));
    auto d = consumer.receive(1s);
    if (!sent || !d || d->payload().bytes().size() != size || !d->ack()) {
      state.SkipWithError("send, receive or ack failed");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(size) * state.iterations());
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
}

void growth_payload_memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<char> from(size, 'p');
  std::vector<char> to(size);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), size);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(size) * state.iterations());
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
}

GROWTH_BENCHMARK("growth_payload/switchyard", growth_payload)
    ->RangeMultiplier(16)
    ->Range(16, 1 << 20);
GROWTH_BENCHMARK("growth_payload/memcpy", growth_payload_memcpy)
    ->RangeMultiplier(16)
    ->Range(16, 1 << 20);

// ---------------------------------------------------------------- growth_consumers

void growth_consumers(benchmark::State& state) {
  const int consumers = static_cast<int>(state.range(0));
  constexpr std::uint64_t kMessages = 100'000;
  switchyard::Broker broker;
  broker.declare_queue(
      "work",
      {.capacity = kQueueCapacity, .overflow = switchyard::Overflow::block, .send_timeout = 60s});
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> failed{false};
    allocations += run_threads(1 + consumers, [&](int index) {
      if (index == 0) {
        auto producer = broker.producer();
        Message64 message;
        for (std::uint64_t i = 0; i < kMessages; ++i) {
          message.seq = i;
          if (!producer.send("work", view(message))) failed.store(true, std::memory_order_relaxed);
        }
        return;
      }
      auto consumer = broker.consumer("work");
      // Relaxed: a count of settled messages; the iteration's end is the threads' join.
      while (received.load(std::memory_order_relaxed) < kMessages &&
             !failed.load(std::memory_order_relaxed)) {
        auto d = consumer.receive(1ms);
        if (!d) continue;
        if (!d->ack()) failed.store(true, std::memory_order_relaxed);
        received.fetch_add(1, std::memory_order_relaxed);
      }
    });
    if (failed.load(std::memory_order_relaxed)) {
      state.SkipWithError("send or ack failed");
      return;
    }
    items += kMessages;
  }
  report_throughput(state, items, allocations);
  report_ns_per_op(state, items);
}

SWITCHYARD_BENCHMARK("growth_consumers/switchyard", growth_consumers)
    ->RangeMultiplier(2)
    ->Range(1, 64);

// ---------------------------------------------------------------- growth_rebalance

void growth_rebalance(benchmark::State& state) {
  const auto members = static_cast<std::uint32_t>(state.range(0));
  std::uint64_t joins = 0;
  int round = 0;
  switchyard::Broker broker;
  broker.declare_topic("parts", {.partitions = members});
  for (auto _ : state) {
    const std::string group = numbered("g", static_cast<std::uint64_t>(round++));
    std::vector<switchyard::GroupConsumer> group_members;
    group_members.reserve(members);
    for (std::uint32_t m = 0; m < members; ++m) {
      group_members.push_back(broker.group_consumer("parts", group));
    }
    state.PauseTiming();
    group_members.clear();
    state.ResumeTiming();
    joins += members;
  }
  report_ns_per_op(state, joins);
}

GROWTH_BENCHMARK("growth_rebalance/switchyard", growth_rebalance)
    ->RangeMultiplier(10)
    ->Range(1, 1000);

// ---------------------------------------------------------------- growth_recovery

void growth_recovery(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  if (skip_if_too_big(state, n)) return;
  const TempDir dir(numbered("growth_recovery_", n));
  {
    switchyard::Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", {.capacity = static_cast<std::size_t>(n) + 16,
                                  .durability = switchyard::Durability::none});
    auto producer = broker.producer();
    Message64 message;
    for (std::uint64_t i = 0; i < n; ++i) {
      message.seq = i;
      if (!producer.send("jobs", view(message))) {
        state.SkipWithError("could not write the queue to recover");
        return;
      }
    }
  }
  std::uint64_t opens = 0;
  for (auto _ : state) {
    switchyard::Broker broker({.data_dir = dir.path()});
    if (broker.queue("jobs").stats().depth != n) {
      state.SkipWithError("recovery did not find every message");
      return;
    }
    ++opens;
  }
  report_ns_per_op(state, opens);
  state.counters["ns_per_message"] =
      benchmark::Counter(static_cast<double>(opens * std::max<std::uint64_t>(n, 1)) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

SWITCHYARD_BENCHMARK("growth_recovery/switchyard", growth_recovery)
    ->RangeMultiplier(10)
    ->Range(1, 1'000'000);

// ---------------------------------------------------------------- growth_metrics

void growth_metrics(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  if (skip_if_too_big(state, n)) return;
  Declared* d = declared_queues(n, false);
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = d->broker.metrics();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  report_ns_per_op(state, static_cast<std::uint64_t>(state.iterations()));
  state.counters["bytes"] = static_cast<double>(bytes);
}

GROWTH_BENCHMARK("growth_metrics/switchyard", growth_metrics)
    ->RangeMultiplier(10)
    ->Range(1, 100'000);

}  // namespace
}  // namespace switchyard_bench
