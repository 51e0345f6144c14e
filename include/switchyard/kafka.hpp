// switchyard/kafka.hpp — topics that live on a Kafka cluster, through librdkafka
// (CMake target switchyard::kafka, option SWITCHYARD_WITH_KAFKA).
//
//   auto kafka = switchyard::kafka::connect({.bootstrap_servers = "kafka:9092"});
//   broker.declare_topic("orders", {.partitions = 6, .transport = kafka});
//   producer.send("orders", payload, {.key = id});             // produces to Kafka
//   auto member = broker.group_consumer("orders", "billing");  // joins a Kafka consumer group
//
// The handles keep their types and meanings (switchyard/transport.hpp for the seam); what
// Kafka cannot carry is `invalid_argument` at declare or join (see `kKafkaCapabilities`).
//
// Threads
// -------
//  * Producer side, one librdkafka producer per remote topic. `send` (any thread) copies the
//    record into librdkafka's buffer (`rd_kafka_producev`, RD_KAFKA_MSG_F_COPY) and returns; a
//    send finding the buffer full (`queue.buffering.max.messages` / `.kbytes`) follows
//    `KafkaOptions::overflow` (reject: `Errc::full`; block: waits up to `send_timeout` for
//    deliveries to make room, then `full`). librdkafka's own threads (one per broker, plus its
//    main thread) batch, send, retry (idempotence on: no duplicates) and receive the
//    acknowledgements; the topic's *delivery thread* (ours) calls `rd_kafka_poll`, which runs
//    the delivery reports: each send's `SendOptions::on_complete` runs there, once — with the
//    partition, the offset and `Persisted::replicated` (acks=all), or the typed error
//    (`payload_too_large` for a record over the cluster's `message.max.bytes`, `unauthorized`,
//    `timed_out` when no broker took it within `delivery_timeout`, `closed` when the broker was
//    stopped with `Shutdown::stop` first). At `Shutdown::drain` (or `delete_topic`) the topic
//    flushes first: nothing accepted is dropped without its completion.
//  * Consumer side, one librdkafka consumer per `GroupConsumer`. `poll(max, timeout)` is
//    `rd_kafka_consumer_poll(timeout)` then `rd_kafka_consumer_poll(0)` until `max` records or
//    none is ready; the rebalance callback (eager assignors: range or roundrobin) runs inside
//    those calls, so `on_assigned`/`on_revoked` fire at the member's next poll, on its thread,
//    as for a local topic. `wakeup()` is `rd_kafka_queue_yield` on the consumer queue.
//    Offsets are committed to Kafka only by `commit()` (the positions polls returned) or, with
//    `auto_commit`, at the next poll and at close: at-least-once. With `auto_commit` a revoked
//    partition's position is committed (synchronously) before it is given up.
//    A difference from a local topic: on_revoked runs *before* the partitions are given up
//    (Kafka's onPartitionsRevoked), so committing them there still succeeds.
//  * Calls that ask the cluster (declare, `commit`, `committed`, `lag`, `seek`) block up to
//    `request_timeout` and return `timed_out` / `io_error` past it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/topic.hpp"
#include "switchyard/transport.hpp"

struct rd_kafka_mock_cluster_s;
struct rd_kafka_s;

namespace switchyard::kafka {

/// What a Kafka-backed topic can do of switchyard's topic semantics. Not carried (a typed error
/// where it would be asked for): `Retention::records` other than its default (Kafka retains
/// by bytes and age), `durability` other than memory (the cluster's replication is the
/// durability), `subscribe_queue`, `Start::offset`/`Start::timestamp`, `ready_fd`, message ids
/// (a record polled from Kafka has id 0), `Missed` notices (Kafka's auto.offset.reset jumps).
inline constexpr Capabilities kKafkaCapabilities =
    Capabilities::of({Capability::seek, Capability::pause, Capability::lag, Capability::headers,
                      Capability::timestamps, Capability::cluster_replication});

struct KafkaOptions {
  /// librdkafka's bootstrap.servers: "host:9092,host2:9092".
  std::string bootstrap_servers;
  /// librdkafka configuration, passed through to every client (security.protocol, sasl.*,
  /// linger.ms, session.timeout.ms, ...). A key prefixed "producer." or "consumer." goes to
  /// that client only, without the prefix. Set after switchyard's defaults (idempotence on,
  /// acks=all, murmur2_random partitioner, manual offset store), so a key here overrides them.
  std::map<std::string, std::string, std::less<>> properties{};
  /// When the producer's buffer is full: `block` waits up to `send_timeout`, `reject` fails at
  /// once; both with `Errc::full`. (`drop_oldest` is refused: Kafka cannot drop a buffered record.)
  Overflow overflow = Overflow::block;
  Duration send_timeout = std::chrono::seconds(5);
  /// librdkafka's message.timeout.ms (retries included): a record no broker acknowledged by
  /// then completes with `timed_out`.
  Duration delivery_timeout = std::chrono::seconds(30);
  /// Bound of each call that waits for the cluster (metadata at declare, commits, offsets).
  Duration request_timeout = std::chrono::seconds(10);
  /// partition.assignment.strategy: "range" or "roundrobin" (librdkafka 2.0.2's
  /// cooperative-sticky is refused: it aborts in that version).
  std::string assignor = "range";
  /// Replication factor of topics the transport creates; -1: the cluster's default.
  int replication_factor = -1;
};

/// A connection to a Kafka cluster, for `TopicOptions::transport`. Connects lazily: nothing is
/// asked of the cluster until a topic is declared. Throws `Error(invalid_argument)` for a bad
/// option (empty bootstrap servers, an unknown librdkafka property, `drop_oldest`).
[[nodiscard]] std::shared_ptr<Transport> connect(KafkaOptions options);

/// librdkafka's mock cluster, inside this process (rdkafka_mock.h): a Kafka to test against
/// with no network. Thread-safe; its brokers run on librdkafka's threads until destroyed
/// (destroy it after every client of it).
class MockCluster {
 public:
  explicit MockCluster(int brokers = 3);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  /// For `KafkaOptions::bootstrap_servers`.
  [[nodiscard]] const std::string& bootstrap_servers() const noexcept { return bootstrap_; }
  /// Creates a topic (before a client asks for it: else the mock auto-creates it).
  void create_topic(std::string_view topic, int partitions, int replication = 1);
  /// The next `count` requests of Kafka API `api_key` (0: Produce, 8: OffsetCommit, ...)
  /// fail with librdkafka error code `error`.
  void push_request_errors(int api_key, int count, int error);
  void set_broker_down(int broker);
  void set_broker_up(int broker);
  void set_leader(std::string_view topic, int partition, int broker);
  /// The cluster, for the rest of rdkafka_mock.h.
  [[nodiscard]] rd_kafka_mock_cluster_s* native() const noexcept { return cluster_; }

 private:
  rd_kafka_s* owner_ = nullptr;  // the librdkafka handle the cluster lives on
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace switchyard::kafka
