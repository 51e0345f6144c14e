// switchyard/transport.hpp — a place outside this process where a destination can live (a Kafka
// cluster: switchyard/kafka.hpp; a RabbitMQ server: switchyard/rabbitmq.hpp), and what it can
// carry of switchyard's semantics.
//
// The seam: `TopicOptions::transport` (and `QueueOptions::transport`, `ExchangeOptions::
// transport`) names the transport a destination lives on (null: this process). From then on
// the name is "remote": `Producer::send` to it hands the message to the transport,
// `Broker::group_consumer` joins the transport's consumer group, `Broker::consumer` consumes
// from the transport's queue, and the handles keep their types and meanings. What a transport
// cannot carry over is refused with a typed error when the destination is declared or the
// member joins (`Errc::invalid_argument`, the message naming the transport and the option),
// never later. A transport carries the kinds it can: Kafka topics only, RabbitMQ queues and
// exchanges only; the others are `invalid_argument` at declare.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/destination.hpp"
#include "switchyard/export.hpp"
#include "switchyard/group_consumer.hpp"

namespace switchyard {

struct TopicOptions;
struct QueueOptions;
struct ExchangeOptions;
enum class ExchangeType : std::uint8_t;

namespace detail {
class Access;
class Hooks;
class RemoteTopic;
class RemoteQueue;
class RemoteExchange;
}  // namespace detail

/// What a transport can do beyond the core of a topic (produce by key, consume in a group,
/// commit, at-least-once), one bit each. Tests and adapters ask `Capabilities::has`.
enum class Capability : std::uint32_t {
  seek = 1u << 0,                 ///< GroupConsumer::seek
  pause = 1u << 1,                ///< GroupConsumer::pause / resume
  lag = 1u << 2,                  ///< GroupConsumer::lag / committed
  headers = 1u << 3,              ///< record headers round trip
  timestamps = 1u << 4,           ///< the producer's timestamp round trips
  message_ids = 1u << 5,          ///< Record::id() is the id the producer gave it
  record_retention = 1u << 6,     ///< `Retention::records` (Kafka has bytes and age only)
  queue_subscriptions = 1u << 7,  ///< Broker::subscribe_queue (SNS-style fan-out)
  local_durability = 1u << 8,     ///< `TopicOptions::durability` other than memory
  start_offset = 1u << 9,         ///< `Start::offset` and `Start::timestamp` for a new group
  ready_fd = 1u << 10,            ///< GroupConsumer::ready_fd (event loops)
  missed_records = 1u << 11,      ///< retention gaps reported as `Missed`
  cluster_replication = 1u << 12,  ///< completions report `Persisted::replicated`
  /// `SendOptions::dedup_id` deduplicates within the topic's `dedup_window` (Kafka's
  /// idempotent producer deduplicates its own retries only: a send with one is refused)
  dedup_ids = 1u << 13
};

/// A set of `Capability` bits.
struct Capabilities {
  std::uint32_t bits = 0;
  [[nodiscard]] constexpr bool has(Capability c) const noexcept {
    return (bits & static_cast<std::uint32_t>(c)) != 0;
  }
  [[nodiscard]] static constexpr Capabilities of(std::initializer_list<Capability> cs) noexcept {
    Capabilities out;
    for (Capability c : cs) out.bits |= static_cast<std::uint32_t>(c);
    return out;
  }
  friend constexpr bool operator==(Capabilities, Capabilities) = default;
};

/// What the topics of this process can do (every capability but `cluster_replication`).
inline constexpr Capabilities kLocalCapabilities =
    Capabilities{((1u << 12) - 1) | static_cast<std::uint32_t>(Capability::dedup_ids)};

/// Whether a remote topic's client reaches its cluster, as its last event said.
///  * `connecting`: declared, no broker answered since (or none yet after the declare).
///  * `up`: a broker answered (metadata at declare, an acknowledgement, a statistics report
///    with a broker up).
///  * `down`: the client reported every broker down (librdkafka's `_ALL_BROKERS_DOWN`).
enum class ConnectionState : std::uint8_t { connecting, up, down };

[[nodiscard]] constexpr std::string_view to_string(ConnectionState s) noexcept {
  switch (s) {
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::up:
      return "up";
    case ConnectionState::down:
      return "down";
  }
  return "?";
}

/// One partition of a remote topic, as one group of this process reads it.
struct RemotePartitionLag {
  std::string group;
  std::uint32_t partition = 0;
  /// The partition's log end as the member's last fetch saw it, minus the member's position
  /// (what it will read next): records this member has still to poll. Refreshed by the
  /// member's polls (at most every 100 ms), so as old as its last poll; the committed lag is
  /// `GroupConsumer::lag`, which asks the cluster.
  std::uint64_t lag = 0;
  friend bool operator==(const RemotePartitionLag&, const RemotePartitionLag&) = default;
};

/// The bridge to a topic a transport holds, as this process sees it (`BrokerStats::
/// remote_topics`, `switchyard_remote_topic_*` in `Broker::metrics()`). Counters since the
/// declare, each exact (relaxed reads: the snapshot as a whole is not atomic).
struct RemoteTopicStats {
  std::string name;
  std::string transport;          ///< `Transport::name()`: "kafka"
  std::uint64_t produced = 0;     ///< sends the client's buffer accepted
  std::uint64_t delivered = 0;    ///< of those, acknowledged by the cluster
  /// Sends refused at `send` by the client (a full buffer, ...) plus records that completed
  /// with an error (each also logged as a warning).
  std::uint64_t failed = 0;
  /// Records and requests the client sent again (a batch the cluster refused with a retriable
  /// error, a request that timed out; from librdkafka's statistics, refreshed
  /// each `statistics.interval.ms`, 1 s by default).
  std::uint64_t retried = 0;
  std::uint64_t in_flight_bytes = 0;  ///< key and payload bytes accepted, not yet completed
  std::uint64_t buffered = 0;         ///< records the client holds now, in flight included
  /// Rebalance events of this process's members (each assignment and each revocation).
  std::uint64_t rebalances = 0;
  /// Errors the clients (producer and members) reported outside any one send — a broker
  /// unreachable, authentication, a fatal error —, each logged too; `last_error` is the latest.
  std::uint64_t errors = 0;
  ConnectionState connection = ConnectionState::connecting;
  std::string last_error;
  std::vector<RemotePartitionLag> lag;  ///< by group, then partition
};

/// The bridge to a queue (or exchange) a transport holds, as this process sees it
/// (`BrokerStats::remote_queues`, `switchyard_remote_queue_*` in `Broker::metrics()`).
/// Counters since the declare, each exact (relaxed reads: the snapshot is not atomic).
struct RemoteQueueStats {
  std::string name;
  std::string transport;         ///< `Transport::name()`: "rabbitmq"
  DestinationKind kind{};        ///< remote_queue or remote_exchange
  std::uint64_t published = 0;   ///< sends handed to the connection
  std::uint64_t confirmed = 0;   ///< of those, confirmed by the server (basic.ack)
  /// Of those, returned by the server as unroutable (mandatory publishing; completed with
  /// `Errc::unroutable`).
  std::uint64_t returned = 0;
  /// Sends that failed: refused by the server (basic.nack: a full queue with reject-publish,
  /// ...), or not confirmed before the connection dropped and not sent again.
  std::uint64_t failed = 0;
  std::uint64_t republished = 0;  ///< unconfirmed sends published again after a reconnect
  std::uint64_t delivered = 0;    ///< deliveries this process's consumers received
  std::uint64_t acked = 0;        ///< of those, acknowledged (basic.ack)
  std::uint64_t requeued = 0;     ///< nacked with requeue, or returned at a consumer's close
  std::uint64_t rejected = 0;     ///< rejected without requeue (the queue's dead-letter exchange)
  std::uint64_t reconnects = 0;   ///< connections made again after one dropped
  ConnectionState connection = ConnectionState::connecting;
  std::uint64_t errors = 0;  ///< connection and channel errors, each logged too
  std::string last_error;
};

/// A connection to a place topics can live. Made by a transport's factory
/// (`switchyard::kafka::connect`); shared by every broker and topic given it, and kept alive by
/// them. Its members are thread-safe.
class SWITCHYARD_EXPORT Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  virtual ~Transport();

  /// "kafka": how errors and `option_mismatch` messages name it.
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  [[nodiscard]] virtual Capabilities capabilities() const noexcept = 0;

 private:
  // Called by Broker::declare_topic / declare_queue / declare_exchange, through detail::Access
  // (not installed). Each throws `Error`: `invalid_argument` for an option (or a kind) the
  // transport cannot carry, `option_mismatch` when the remote destination exists with options
  // it cannot share (Kafka: another partition count; RabbitMQ: other queue arguments),
  // `io_error`/`timed_out` when the remote end cannot be reached. Called once per name;
  // `clock` and `hooks` are the broker's (its interceptors and log). The defaults refuse the
  // kind (`invalid_argument`, "<transport> cannot hold a topic").
  friend class detail::Access;
  /// Opens topic `name` with `options` on the transport (creating it there if it does not
  /// exist).
  virtual std::shared_ptr<detail::RemoteTopic> open_topic(
      std::string_view name, const TopicOptions& options, std::shared_ptr<Clock> clock,
      std::shared_ptr<const detail::Hooks> hooks);
  /// Opens queue `name` (declaring it there if it does not exist).
  virtual std::shared_ptr<detail::RemoteQueue> open_queue(
      std::string_view name, const QueueOptions& options, std::shared_ptr<Clock> clock,
      std::shared_ptr<const detail::Hooks> hooks);
  /// Opens exchange `name` of `type` (declaring it there if it does not exist).
  virtual std::shared_ptr<detail::RemoteExchange> open_exchange(
      std::string_view name, ExchangeType type, const ExchangeOptions& options,
      std::shared_ptr<Clock> clock, std::shared_ptr<const detail::Hooks> hooks);
};

}  // namespace switchyard
