// switchyard/broker.hpp — the in-process broker: declares destinations, hands out producers
// and consumers, shuts down.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/consumer.hpp"
#include "switchyard/destination.hpp"
#include "switchyard/exchange.hpp"
#include "switchyard/export.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/interceptor.hpp"
#include "switchyard/log.hpp"
#include "switchyard/producer.hpp"
#include "switchyard/pubsub.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/recovery.hpp"
#include "switchyard/stats.hpp"
#include "switchyard/topic.hpp"
#include "switchyard/transaction.hpp"

namespace switchyard {

namespace detail {
class PubSubHub;
class QueueExpiry;
class Registry;
class StorageContext;
}  // namespace detail

struct BrokerOptions {
  /// Source of time for every delay, timeout, TTL and retention; null: the system clock.
  std::shared_ptr<Clock> clock{};
  /// Hooks on every send, delivery, settlement, redelivery, dead letter and expiry, in order
  /// (tracing, correlation ids): switchyard/interceptor.hpp.
  std::vector<std::shared_ptr<Interceptor>> interceptors{};
  /// Where the broker logs what a service must hear (recovery repairs, I/O errors, dropped
  /// messages, handler and interceptor exceptions); empty: silent. Threading and what is
  /// logged: switchyard/log.hpp.
  LogSink log{};
  /// Where durable destinations keep their data; empty: nothing is persisted. The broker takes
  /// an exclusive lock on it (a second live broker on the same directory fails with
  /// `Errc::locked`; a lock left by a dead process is taken over) and re-declares the durable
  /// destinations, exchanges and bindings it finds there.
  std::filesystem::path data_dir{};
  /// Recovery policy: skip damaged records (and count them) instead of failing with
  /// `Errc::corrupt`.
  bool salvage = false;
  /// Storage sizing and group commit of every durable destination (segment size, space
  /// reservation, `flush_interval`, `flush_bytes`; switchyard/storage_options.hpp), unless the
  /// destination's own `storage` sets a field. Zero fields: the defaults (64 MiB segments
  /// reserved as they fill, synced every 5 ms or 1 MiB). Out-of-range values: the constructor
  /// throws `Error(Errc::invalid_argument)`.
  StorageOptions storage{};
};

/// How `Broker::shutdown` ends.
enum class Shutdown : std::uint8_t {
  drain,  ///< refuse new sends, let consumers finish what is queued and in flight, then stop
  stop,   ///< stop at once: receives return `closed`; queued messages are discarded
};

/// RabbitMQ's queue.delete flags.
struct DeleteOptions {
  bool if_unused = false;  ///< refuse (`Errc::in_use`) while the queue has consumers
  bool if_empty = false;   ///< refuse (`Errc::in_use`) while the queue holds messages
};

/// What `Broker::move_messages` moves, where, and how fast (SQS StartMessageMoveTask).
struct MessageMoveOptions {
  /// The queue to move to; empty: each message back to the queue it was dead-lettered from
  /// (its `x-death-queue` header — SQS's default destination, "the source queue").
  std::string destination{};
  /// Which messages: those it returns true for; empty: all. Runs under the source queue's
  /// lock: it must not call into the broker. Must not throw.
  std::function<bool(const Message&)> filter{};
  /// SQS's MaxNumberOfMessagesPerSecond: at most this many a second, by the broker's clock
  /// (moved in runs of this size, one each second); 0: no limit.
  std::uint32_t max_per_second = 0;
  /// At most this many in all; 0: as many as the source holds when the move starts.
  std::size_t max_messages = 0;
};

/// What `Broker::move_messages` did.
struct MessageMoveResult {
  std::uint64_t moved = 0;
  /// Left in the source: their destination refused them (full, closed, too large), or there
  /// was none (no `x-death-queue`, or it names no queue now). Each is tried once per move.
  std::uint64_t failed = 0;
  /// Why the first failure failed.
  std::string first_failure{};
};

/// One broker: a namespace of destinations (queues, topics, exchanges share one namespace).
///
/// Declares are idempotent: declaring an existing name with equal options returns it; with
/// different options (or as another kind) throws `Error(Errc::option_mismatch)`.
/// All members are thread-safe. Destroying the broker is `shutdown(Shutdown::stop)`;
/// producers and consumers that outlive it get `Errc::closed`.
class SWITCHYARD_EXPORT Broker {
 public:
  Broker();
  explicit Broker(BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  /// Declares a queue. Throws `Error` with `invalid_argument` (bad options or name),
  /// `option_mismatch`, `unknown_destination` (a dead-letter queue that is not declared).
  Queue declare_queue(std::string_view name, const QueueOptions& options = {});
  /// The queue called `name`; throws `Error(Errc::unknown_destination)`.
  [[nodiscard]] Queue queue(std::string_view name) const;
  /// Whether any destination is called `name`.
  [[nodiscard]] bool contains(std::string_view name) const;
  /// Deletes a queue: its consumers are told `closed`, its messages discarded.
  void delete_queue(std::string_view name, DeleteOptions options = {});
  /// Every declared queue, topic and exchange with its kind (RabbitMQ's `list_queues` and
  /// `list_exchanges`, Kafka's `listTopics`, in one list), sorted by name. A snapshot: a
  /// declare or delete while it runs may or may not be in it. @note threadsafe
  [[nodiscard]] std::vector<DestinationInfo> destinations() const;

  /// Redrive (SQS StartMessageMoveTask): moves ready messages of the queue `source` (typically a
  /// dead-letter queue) to `options.destination`, or each back to the queue it died in, all or
  /// those `options.filter` picks, at most `max_per_second`, in the source's delivery order;
  /// delayed and in-flight messages stay. A moved message keeps its id, payload and headers
  /// (x-death-* included), starts at attempt 1 and counts its TTL from the move; a message the
  /// destination refuses stays in the source, where it was. Blocks the calling thread for the
  /// pacing (SQS runs the task in the background: run this on a thread of your own for that).
  /// Between two durable queues a move is crash-safe: after a kill at any moment each message
  /// is in exactly one of them (the journal of the destination names the source's record; the
  /// reopen finishes a move cut short). Into an in-memory queue a moved message is as durable
  /// as that queue. Errors: `unknown_destination` (no such source or destination queue),
  /// `invalid_argument` (the destination is the source), `closed`. @note threadsafe
  Result<MessageMoveResult> move_messages(std::string_view source,
                                          const MessageMoveOptions& options = {});

  // --- topics: Kafka-style partitioned logs and SNS-style fan-out -------------------

  /// Declares a topic. Throws `Error` with `invalid_argument` (zero or more than 65536
  /// partitions, retention bounding neither records nor bytes, bad name) or `option_mismatch`
  /// (declared with other options, or as a queue or exchange).
  Topic declare_topic(std::string_view name, const TopicOptions& options = {});
  /// The topic called `name`; throws `Error(Errc::unknown_destination)` (also when `name` is
  /// a queue or exchange).
  [[nodiscard]] Topic topic(std::string_view name) const;
  /// Deletes a topic and its groups and subscriptions. `if_unused`: refuse (`in_use`) while a
  /// group has a member; otherwise members' polls return `closed`. `if_empty`: refuse while a
  /// partition holds a record.
  void delete_topic(std::string_view name, DeleteOptions options = {});
  /// Joins `group` on topic `topic` as a new member (creating the group, started as
  /// `options.start` says, if it has never had a member). Throws `unknown_destination` (no
  /// such topic, or a queue/exchange by that name), `invalid_argument` (empty group name),
  /// `closed`.
  [[nodiscard]] GroupConsumer group_consumer(std::string_view topic, std::string_view group,
                                             GroupConsumerOptions options = {});
  /// SNS-style subscription: every record appended to `topic` from now on whose headers pass
  /// `filter` is also sent to `queue`. The filter has a binding filter's rules
  /// (`BindOptions::arguments`: an optional `x-match`, `all` by default — every other
  /// name=value pair must be among the record's headers; an invalid x-match is
  /// `invalid_argument`). The queue gets the same Message (no payload copy), with its full
  /// semantics (acks, retries, dead letters) and its own overflow policy — a copy the queue refuses
  /// is counted in `TopicStats::fan_out_failed` and never fails the topic append. Idempotent;
  /// `option_mismatch` if already subscribed with another filter; `unknown_destination` for an
  /// unknown topic or queue.
  void subscribe_queue(std::string_view topic, std::string_view queue, Headers filter = {});
  /// Ends a subscription; `unknown_destination` if there is none.
  void unsubscribe_queue(std::string_view topic, std::string_view queue);

  [[nodiscard]] Producer producer() const;
  /// A new transaction: sends, acks and offset commits applied together by its `commit`, or
  /// not at all (switchyard/transaction.hpp). @note threadsafe
  [[nodiscard]] Transaction begin();
  /// A consumer of queue `name`; throws `Error(Errc::unknown_destination)`, or `Errc::locked`
  /// for an exclusive queue (consume it through its owner handle, below).
  [[nodiscard]] Consumer consumer(std::string_view queue, const ConsumerOptions& options = {});
  /// A consumer of the queue `queue` is a handle to. The one way to consume an exclusive queue:
  /// through the handle that declared it (or a copy), which the consumer then keeps alive; any
  /// other handle of an exclusive queue gets `Errc::locked`. `Errc::closed` for a deleted queue.
  [[nodiscard]] Consumer consumer(const Queue& queue, const ConsumerOptions& options = {});

  // --- exchanges (RabbitMQ routing) --------------------------------------------------
  /// Declares an exchange. Throws `Error` with `option_mismatch` (same name, other type or
  /// options), `unknown_destination` (an alternate that is not declared), `invalid_argument`.
  Exchange declare_exchange(std::string_view name, ExchangeType type,
                            const ExchangeOptions& options = {});
  /// The exchange called `name`; throws `Error(Errc::unknown_destination)`.
  [[nodiscard]] Exchange exchange(std::string_view name) const;
  /// Deletes an exchange and its bindings (and bindings to it). `if_unused`: refuse
  /// (`Errc::in_use`) while it has bindings.
  void delete_exchange(std::string_view name, DeleteOptions options = {});
  /// Binds `exchange` to `destination` (a queue, topic or exchange) with `key` (a routing key,
  /// or an AMQP pattern for topic exchanges; ignored by fanout and headers exchanges). Binding
  /// while messages flow is safe; an identical binding is a no-op. Throws `Error` with
  /// `unknown_destination` or `invalid_argument` (bad arguments, pattern over 255 bytes).
  void bind(std::string_view exchange, std::string_view destination, std::string_view key = {},
            const BindOptions& options = {});
  /// Removes the bindings from `exchange` to `destination` with `key`; false if none existed.
  bool unbind(std::string_view exchange, std::string_view destination, std::string_view key = {});

  // --- ephemeral pub/sub (Redis) ------------------------------------------------------
  /// Calls `handler` with every message published on `channel` from now on. Channels are not
  /// destinations: they need no declaring and share no namespace with queues.
  [[nodiscard]] Subscription subscribe(std::string_view channel, Subscription::Handler handler,
                                       const SubscriberOptions& options = {});
  /// Like `subscribe`, for every channel matching the Redis glob `pattern`.
  [[nodiscard]] Subscription psubscribe(std::string_view pattern, Subscription::Handler handler,
                                        const SubscriberOptions& options = {});
  /// Publishes on `channel` (fire-and-forget; `message.key()` is the channel). Returns how many
  /// subscriptions buffered it, like Redis PUBLISH. Throws `Error` with the failure an
  /// interceptor's `refuse_send` returned (fault injection: switchyard/testing/faults.hpp), and
  /// what allocation throws. @note threadsafe
  std::size_t publish(std::string_view channel, std::string_view payload,
                      const Headers& headers = {});

  /// Ends the broker. With `drain`, waits up to `timeout` for every queue to be empty with
  /// nothing in flight; returns whether it drained completely before stopping. Idempotent.
  bool shutdown(Shutdown mode = Shutdown::drain,
                Duration timeout = std::chrono::seconds(30));

  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept;

  /// Every queue, topic (with its partitions and groups), exchange and pub/sub subscription,
  /// and the storage's counters, as one tree of plain structs (see stats.hpp; `to_json` gives
  /// its JSON form). Each value is exact; the tree is not one atomic snapshot. Takes each
  /// destination's stats in turn (what `Queue::stats()` and the others cost). @note threadsafe
  [[nodiscard]] BrokerStats stats() const;

  /// `stats()` in the Prometheus text exposition format (version 0.0.4), ready to serve on a
  /// /metrics endpoint: one family per counter, labelled by destination (`queue`, `topic`,
  /// `exchange`; `partition`, `group`; `subscription` with `channel` or `pattern`), the ages
  /// and sync latencies as histograms in seconds. Each value is exact; the set is not one
  /// atomic snapshot. @note threadsafe
  [[nodiscard]] std::string metrics() const;

  /// What recovery found in every durable destination open now: per queue, and per topic
  /// partition, the segments, records and bytes found, what was truncated, removed or skipped
  /// (salvage), what was restored, the time it took, and one event line per repair naming
  /// file and offset. A clean reopen reports nothing `repaired()`. The same counts are in
  /// `QueueStats`/`TopicStats` and `metrics()`. Fixed once a destination is open; sorted by
  /// name, then partition. @note threadsafe
  [[nodiscard]] RecoveryReport recovery_report() const;

 private:
  /// Loads the data directory's catalog and re-declares what it lists (broker_catalog.cpp).
  void open_catalog();
  /// Records a declaration (or its removal) in the catalog, if the broker has a data_dir.
  void catalog_changed();

  std::shared_ptr<detail::Registry> registry_;       // shared with every Producer
  std::shared_ptr<detail::StorageContext> storage_;  // null: no data_dir, memory only
  std::shared_ptr<detail::PubSubHub> pubsub_;
  std::shared_ptr<detail::QueueExpiry> expiry_;  // deletes queues unused for their `expires`
};

}  // namespace switchyard
