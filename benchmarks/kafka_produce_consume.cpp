// benchmarks/kafka_produce_consume.cpp — the kafka_produce_consume family (issue 12): records
// produced to a 1-partition topic on librdkafka's mock cluster (in this binary) and consumed by
// one group member, end to end: an iteration ends when the member has polled every record.
//
//   kafka_produce_consume_64/switchyard   a Kafka-backed switchyard topic (switchyard::kafka):
//   kafka_produce_consume_1k/switchyard   Producer::send, GroupConsumer::poll
//   kafka_produce_consume_64/librdkafka   librdkafka used directly on the same kind of mock:
//   kafka_produce_consume_1k/librdkafka   rd_kafka_producev (same producer settings:
//                                         idempotence, acks=all), rd_kafka_consumer_poll
//
// Both sides join their group before the timed part (a join is a rebalance: seconds), read from
// the earliest offset of their fresh topic (with "latest" the position was looked up after the
// first records were produced, and those were never read: the iteration waited for ever), and use
// the same client properties. An iteration that has not read its records within kIterationBudget
// ends the run with an error instead of hanging. Built only with switchyard::kafka (SWITCHYARD_WITH_KAFKA).
#ifdef SWITCHYARD_BENCH_KAFKA
#include <librdkafka/rdkafka.h>

#include <switchyard/kafka.hpp>
#include <switchyard/switchyard.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

namespace switchyard_bench {
namespace {

/// Records per iteration: 50,000, or fewer where they would not fit in the mock cluster's
/// partition log. librdkafka's mock keeps about 5 MB per partition and drops the oldest
/// message sets past it, so 50,000 records of 1 KiB were partly gone ("Offset out of range")
/// before the member read them; 4 MiB per iteration stays within it.
constexpr std::uint64_t records_per_iteration(std::size_t bytes) {
  return std::min<std::uint64_t>(50'000, (std::uint64_t{4} << 20) / bytes);
}
/// Records a poll returns at most: the Java client's default max.poll.records.
inline constexpr std::size_t kPollRecords = 500;
/// Real time an iteration may take before the run is abandoned.
inline constexpr std::chrono::seconds kIterationBudget{60};

const std::map<std::string, std::string, std::less<>>& client_properties() {
  static const std::map<std::string, std::string, std::less<>> p = {
      {"consumer.session.timeout.ms", "6000"},
      {"consumer.heartbeat.interval.ms", "500"},
      {"consumer.fetch.wait.max.ms", "10"},
      {"producer.linger.ms", "5"}};
  return p;
}

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char error[256];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
    std::abort();
  }
}

void switchyard_side(benchmark::State& state, std::size_t bytes) {
  switchyard::kafka::MockCluster cluster(1);
  cluster.create_topic("bench", 1);
  auto transport = switchyard::kafka::connect(
      {.bootstrap_servers = cluster.bootstrap_servers(), .properties = client_properties()});
  std::uint64_t items = 0;
  {
    switchyard::Broker broker;
    broker.declare_topic("bench", {.partitions = 1, .transport = transport});
    auto producer = broker.producer();
    auto member = broker.group_consumer("bench", "g", {.start = switchyard::Start::earliest});
    while (member.assignment().empty()) {
      if (!member.poll(1, std::chrono::milliseconds(100))) std::abort();
    }
    const std::string payload(bytes, 'x');
    const std::uint64_t records = records_per_iteration(bytes);
    switchyard::PollBatch batch;
    for (auto _ : state) {
      for (std::uint64_t i = 0; i < records; ++i) {
        if (!producer.send("bench", payload)) {
          state.SkipWithError("send failed");
          return;
        }
      }
      std::uint64_t got = 0;
      const auto deadline = std::chrono::steady_clock::now() + kIterationBudget;
      while (got < records) {
        if (!member.poll(batch, kPollRecords, std::chrono::milliseconds(100))) std::abort();
        got += batch.size();
        if (std::chrono::steady_clock::now() > deadline) {
          state.SkipWithError("the records did not all come back within the iteration budget");
          return;
        }
      }
      items += got;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(items * bytes));
  report_throughput(state, items, 0);
}

void librdkafka_side(benchmark::State& state, std::size_t bytes) {
  switchyard::kafka::MockCluster cluster(1);
  cluster.create_topic("bench", 1);
  char error[256];
  auto conf_for = [&](bool producer) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", cluster.bootstrap_servers());
    const std::string mine = producer ? "producer." : "consumer.";
    for (const auto& [k, v] : client_properties()) {
      if (k.starts_with(mine)) set(conf, k.substr(mine.size()), v);
    }
    if (producer) {
      set(conf, "enable.idempotence", "true");
      set(conf, "acks", "all");
    } else {
      set(conf, "group.id", "g");
      set(conf, "enable.auto.commit", "false");
      set(conf, "auto.offset.reset", "earliest");
    }
    return conf;
  };
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf_for(true), error, sizeof error);
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf_for(false), error, sizeof error);
  if (producer == nullptr || consumer == nullptr) std::abort();
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, "bench", RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer, "bench", nullptr);
  // Joined: the assignment is in.
  for (;;) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m != nullptr) rd_kafka_message_destroy(m);
    rd_kafka_topic_partition_list_t* a = nullptr;
    rd_kafka_assignment(consumer, &a);
    const bool assigned = a->cnt > 0;
    rd_kafka_topic_partition_list_destroy(a);
    if (assigned) break;
  }
  const std::string payload(bytes, 'x');
  const std::uint64_t records = records_per_iteration(bytes);
  std::uint64_t items = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < records; ++i) {
      while (rd_kafka_producev(producer, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(0),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer, 1);
      }
      rd_kafka_poll(producer, 0);  // serve delivery reports, as switchyard's delivery thread does
    }
    std::uint64_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + kIterationBudget;
    while (got < records && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) ++got;
      rd_kafka_message_destroy(m);
    }
    if (got < records) {
      state.SkipWithError("the records did not all come back within the iteration budget");
      break;
    }
    items += got;
  }
  rd_kafka_topic_destroy(topic);
  rd_kafka_flush(producer, 10'000);
  rd_kafka_destroy(producer);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  state.SetBytesProcessed(static_cast<std::int64_t>(items * bytes));
  report_throughput(state, items, 0);
}

void switchyard_64(benchmark::State& s) {
  switchyard_side(s, 64);
}
void switchyard_1k(benchmark::State& s) {
  switchyard_side(s, 1024);
}
void librdkafka_64(benchmark::State& s) {
  librdkafka_side(s, 64);
}
void librdkafka_1k(benchmark::State& s) {
  librdkafka_side(s, 1024);
}

SWITCHYARD_BENCHMARK("kafka_produce_consume_64/switchyard", switchyard_64)->Iterations(5);
SWITCHYARD_BENCHMARK("kafka_produce_consume_64/librdkafka", librdkafka_64)->Iterations(5);
// 4,096 records an iteration at 1 KiB (records_per_iteration): more iterations for as many.
SWITCHYARD_BENCHMARK("kafka_produce_consume_1k/switchyard", switchyard_1k)->Iterations(50);
SWITCHYARD_BENCHMARK("kafka_produce_consume_1k/librdkafka", librdkafka_1k)->Iterations(50);

}  // namespace
}  // namespace switchyard_bench
#endif  // SWITCHYARD_BENCH_KAFKA
