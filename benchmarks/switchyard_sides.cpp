// benchmarks/switchyard_sides.cpp — switchyard's side of the families that go through the
// broker's public API: queues (send → receive → ack), topic fan-out, persistence and memory.
// The peers are in queue.cpp, zmq_peers.cpp, persist_floor.cpp and memory_floor.cpp; the
// shapes (message size, counts, capacities) come from families.hpp, shared with them.
#include <switchyard/switchyard.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "families.hpp"
#include "harness.hpp"
#include "memory_probe.hpp"

namespace switchyard_bench {
namespace {

using namespace std::chrono_literals;

std::string_view view(const Message64& m) {
  return {reinterpret_cast<const char*>(&m), sizeof m};
}

std::uint64_t seq_of(const switchyard::Delivery& d) {
  std::uint64_t seq = 0;
  std::memcpy(&seq, d.payload().bytes().data(), sizeof seq);
  return seq;
}

// ---------------------------------------------------------------- queue_send_receive_ack

switchyard::QueueOptions bench_queue() {
  return {.capacity = kQueueCapacity,
          .overflow = switchyard::Overflow::block,
          .send_timeout = 60s,
          .prefetch = static_cast<std::uint32_t>(kQueueBatch)};
}

void queue_send_receive_ack(benchmark::State& state, std::size_t batch) {
  switchyard::Broker broker;
  broker.declare_queue("bench", bench_queue());
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    auto consumer = broker.consumer("bench");
    std::vector<switchyard::Delivery> deliveries;
    deliveries.reserve(batch);
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        auto producer = broker.producer();
        Message64 message;
        std::vector<std::string_view> views(batch);
        std::vector<Message64> messages(batch);
        for (std::uint64_t i = 0; i < kQueueMessages;) {
          if (batch == 1) {
            message.seq = i++;
            if (!producer.send("bench", view(message))) ok = false;
            continue;
          }
          for (std::size_t k = 0; k < batch; ++k) {
            messages[k].seq = i + k;
            views[k] = view(messages[k]);
          }
          auto sent = producer.send_batch("bench", views);
          if (!sent || *sent != batch) ok = false;
          i += batch;
        }
        return;
      }
      std::uint64_t expected = 0;
      while (expected < kQueueMessages && ok) {
        if (batch == 1) {
          auto d = consumer.receive(10s);
          if (!d || seq_of(*d) != expected++ || !d->ack()) ok = false;
          continue;
        }
        deliveries.clear();
        if (!consumer.receive(deliveries, batch, 10s)) {
          ok = false;
          break;
        }
        for (const auto& d : deliveries) {
          if (seq_of(d) != expected++) ok = false;
        }
        if (!consumer.ack_all(deliveries)) ok = false;
      }
    });
    items += kQueueMessages;
    if (!ok) {
      state.SkipWithError("switchyard queue lost, reordered or refused a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

void queue_send_receive_ack_switchyard(benchmark::State& state) {
  queue_send_receive_ack(state, 1);
}
void queue_send_receive_ack_batch64_switchyard(benchmark::State& state) {
  queue_send_receive_ack(state, kQueueBatch);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack/switchyard", queue_send_receive_ack_switchyard);
SWITCHYARD_BENCHMARK("queue_send_receive_ack_batch64/switchyard",
                     queue_send_receive_ack_batch64_switchyard);

// ---------------------------------------------------------------- topic_fanout4

void topic_fanout4_switchyard(benchmark::State& state) {
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  int round = 0;
  switchyard::Broker broker;
  for (auto _ : state) {
    const std::string topic = "fanout-" + std::to_string(round++);
    broker.declare_topic(topic, {.partitions = 1, .retention = {.records = 4 * kQueueMessages}});
    std::vector<switchyard::GroupConsumer> readers;
    for (int r = 0; r < kFanout; ++r) {
      readers.push_back(broker.group_consumer(topic, "reader-" + std::to_string(r),
                                              {.start = switchyard::Start::earliest}));
    }
    allocations += run_threads(1 + kFanout, [&](int index) {
      if (index == 0) {
        auto producer = broker.producer();
        Message64 message;
        for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
          message.seq = i;
          if (!producer.send(topic, view(message))) ok = false;
        }
        return;
      }
      auto& reader = readers[static_cast<std::size_t>(index - 1)];
      std::uint64_t expected = 0;
      while (expected < kQueueMessages && ok) {
        auto batch = reader.poll(1024, 10s);
        if (!batch) {
          ok = false;
          break;
        }
        for (const auto& record : *batch) {
          std::uint64_t seq = 0;
          std::memcpy(&seq, record.payload().bytes().data(), sizeof seq);
          if (seq != expected++) ok = false;
        }
      }
    });
    items += kQueueMessages * kFanout;
    readers.clear();
    broker.delete_topic(topic);
    if (!ok) {
      state.SkipWithError("a switchyard topic reader lost or reordered a record");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("topic_fanout4/switchyard", topic_fanout4_switchyard);

// ---------------------------------------------------------------- queue_memory_1m

void queue_memory_switchyard(benchmark::State& state) {
  for (auto _ : state) {
    const MemoryProbe probe;
    {
      switchyard::Broker broker;
      broker.declare_queue("resident", {.capacity = kMemoryMessages});
      auto producer = broker.producer();
      Message64 message;
      for (std::uint64_t i = 0; i < kMemoryMessages; ++i) {
        message.seq = i;
        if (!producer.send("resident", view(message))) {
          state.SkipWithError("send refused");
          return;
        }
      }
      probe.report(state, kMemoryMessages);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(kMemoryMessages * state.iterations()));
}

SWITCHYARD_BENCHMARK("queue_memory_1m/switchyard", queue_memory_switchyard)->Iterations(1);

// ---------------------------------------------------------------- roundtrip_parked

/// Ping-pong through two queues whose consumers park (WaitStrategy::park, the default): what a
/// request/reply between two idle services costs.
void roundtrip_parked_switchyard_queue(benchmark::State& state) {
  switchyard::Broker broker;
  broker.declare_queue("ping");
  broker.declare_queue("pong");
  LatencySamples round_trips(kRoundTrips);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    auto ping_in = broker.consumer("ping", {.wait = switchyard::WaitStrategy::park});
    auto pong_in = broker.consumer("pong", {.wait = switchyard::WaitStrategy::park});
    allocations += run_threads(2, [&](int index) {
      auto producer = broker.producer();
      Message64 message;
      if (index == 0) {
        for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
          const std::int64_t start = now_ns();
          message.seq = i;
          if (!producer.send("ping", view(message))) ok = false;
          auto reply = pong_in.receive(10s);
          if (!reply || seq_of(*reply) != i || !reply->ack()) ok = false;
          round_trips.add(now_ns() - start);
        }
        return;
      }
      for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
        auto request = ping_in.receive(10s);
        if (!request || !request->ack()) ok = false;
        message.seq = request ? seq_of(*request) : 0;
        if (!producer.send("pong", view(message))) ok = false;
      }
    });
    items += kRoundTrips;
    if (!ok) {
      state.SkipWithError("round trip lost a message");
      break;
    }
  }
  round_trips.report(state);
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("roundtrip_parked/switchyard", roundtrip_parked_switchyard_queue)
    ->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
