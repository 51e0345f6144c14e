// switchyard/queue.hpp — a point-to-point queue (RabbitMQ queue, SQS queue): its options,
// its statistics, and the handle the broker gives out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/durability.hpp"
#include "switchyard/export.hpp"
#include "switchyard/histogram.hpp"
#include "switchyard/message.hpp"
#include "switchyard/storage_options.hpp"

namespace switchyard {

class Transport;

namespace detail {
class Access;
class QueueState;
class RemoteQueue;
}  // namespace detail

/// What a send does when the queue already holds `capacity` messages.
enum class Overflow : std::uint8_t {
  block,        ///< wait up to `send_timeout` for room, then fail with `Errc::full`
  reject,       ///< fail at once with `Errc::full`
  drop_oldest,  ///< dead-letter the oldest ready message (reason "overflow"), or drop and count it
};

/// What happens to a message whose time to live runs out before it is delivered.
enum class OnExpiry : std::uint8_t {
  dead_letter,  ///< to the dead-letter queue with reason "expired" (dropped if none configured)
  drop,         ///< dropped and counted in `QueueStats::expired`
};

/// Delay before a nacked (or timed-out) message is offered again: the one retry policy of a
/// queue. Its shapes, each a setting of the same fields:
///   * exponential (the default): `initial`, times `multiplier` for each further attempt;
///   * fixed: `multiplier = 1` (every retry waits `initial`);
///   * fixed steps (linear): `multiplier = 1`, `increment = step` (initial, initial + step, …);
///   * a list of delays: `delays = {1s, 5s, 30s}` — the n-th retry waits `delays[n-1]`, and every
///     retry past the list's end waits its last delay (`initial`, `multiplier` and `increment`
///     are then unused);
/// never more than `max`. Then `jitter` (AWS's "full jitter", scaled) takes a random fraction
/// off: the delay is drawn uniformly from [d·(1 − jitter), d], so retries of many messages that
/// failed together spread out instead of coming back at once. The draw is a hash of the message
/// id and the attempt — no shared random state, and the same message retries at the same times
/// in a replay. Zero delay (zero `initial`, no list): at once.
/// Declaring a queue with a backoff outside these ranges fails with `Errc::invalid_argument`.
struct Backoff {
  /// 0 (at once) to Duration::max(); ≤ `max`.
  Duration initial{0};
  /// Finite, ≥ 1 (NaN and infinity are refused).
  double multiplier = 2.0;
  /// `initial` to Duration::max() (a deadline past the clock's range saturates: never).
  Duration max = std::chrono::minutes(5);
  /// Added after each multiplication: 0 to Duration::max().
  Duration increment{0};
  /// Explicit delays by attempt (at most 1024, each 0 to `max`); empty: the formula above.
  std::vector<Duration> delays{};
  /// Fraction of each delay that may be taken off at random: 0 (none, the default) to 1.
  double jitter = 0.0;

  /// The delay before delivery number `attempt + 1`, after `attempt` failed deliveries (≥ 1),
  /// of the message `id` (the jitter's seed).
  [[nodiscard]] Duration after(std::uint32_t attempt, std::uint64_t id = 0) const noexcept {
    if (attempt == 0) return Duration{0};
    const double cap = static_cast<double>(max.count());
    double d = 0;
    if (!delays.empty()) {
      d = static_cast<double>(delays[std::min<std::size_t>(attempt, delays.size()) - 1].count());
    } else {
      if (initial.count() <= 0 && increment.count() <= 0) return Duration{0};
      d = static_cast<double>(initial.count());
      for (std::uint32_t i = 1; i < attempt && d < cap; ++i)
        d = d * multiplier + static_cast<double>(increment.count());
    }
    if (d >= cap) d = cap;
    if (jitter > 0 && d > 0) {
      // splitmix64 of (id, attempt): a uniform draw in [0, 1) without shared state.
      std::uint64_t z = id * 0x9E3779B97F4A7C15ull + attempt + 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
      d -= d * std::min(jitter, 1.0) * u;
    }
    return d >= cap ? max : Duration(static_cast<std::int64_t>(d));
  }
  friend bool operator==(const Backoff&, const Backoff&) = default;
};

/// Everything a queue is declared with. Re-declaring a queue with different options fails with
/// `Errc::option_mismatch` (RabbitMQ's PRECONDITION_FAILED); with equal options it is a no-op.
///
/// Durations: every one is 0 to Duration::max() (a negative one is refused with
/// `Errc::invalid_argument`); a deadline that would pass the clock's range saturates, so
/// Duration::max() means "never" (detail/deadline.hpp).
struct QueueOptions {
  /// Most messages the queue holds ready or delayed (not counting in-flight ones). 1 to 2^32.
  /// A limit, not a reservation: memory follows what is queued.
  std::size_t capacity = 65'536;
  Overflow overflow = Overflow::block;
  /// How long a send waits for room under `Overflow::block`; 0: not at all.
  Duration send_timeout = std::chrono::seconds(5);
  /// Deliveries before a message is dead-lettered (reason "max_deliveries"); 0: unlimited.
  std::uint32_t max_deliveries = 0;
  /// Where dead letters go: a queue, or an exchange (RabbitMQ's `x-dead-letter-exchange`),
  /// declared before this queue; empty: dead letters are dropped and counted. Through an
  /// exchange a dead letter is routed as a publish with `dead_letter_routing_key` would be, to
  /// every queue (or topic, or exchange) its bindings match; one the exchange cannot route is
  /// dropped (RabbitMQ's rule), counted in the exchange's `unroutable`. A dead letter never
  /// waits for room: a full queue refuses it (whatever its `overflow`), and it is then dropped
  /// and counted in `dropped`.
  std::string dead_letter{};
  /// RabbitMQ's `x-dead-letter-routing-key`: the routing key (`Message::key()`) a dead letter
  /// carries; empty: the message's own key. At most 255 bytes (an AMQP short string).
  std::string dead_letter_routing_key{};
  /// Default for each consumer: most unacknowledged deliveries it may hold. 1 to 2^20. A
  /// limit: a consumer's in-flight slots are created as it holds more.
  std::uint32_t prefetch = 256;
  /// An unacknowledged delivery becomes visible again after this long; 0: only when its
  /// consumer closes (RabbitMQ's behaviour).
  Duration visibility_timeout = std::chrono::seconds(30);
  /// Delay between a failed delivery and the next one.
  Backoff retry_backoff{};
  /// Default delay before a new message becomes deliverable (SQS DelaySeconds); 0: none.
  Duration delay{0};
  /// Default time to live of a message from its send; 0: forever.
  Duration ttl{0};
  OnExpiry on_expiry = OnExpiry::dead_letter;
  /// How long a deduplication id is remembered (SQS FIFO: 5 minutes); 0 to Duration::max().
  Duration dedup_window = std::chrono::minutes(5);
  /// Highest priority honoured (higher values are treated as this); 0: priorities ignored.
  std::uint8_t max_priority = 9;
  /// Largest payload accepted, in bytes.
  std::size_t max_payload = 16 * 1024 * 1024;
  /// RabbitMQ's `x-max-length-bytes`: most payload bytes the queue holds ready or delayed (as
  /// `capacity` counts messages, in-flight ones excluded); 0: no byte limit. A send that would
  /// pass it meets the queue's `overflow` policy, as one past `capacity` does (block, reject
  /// with `Errc::full`, or drop the oldest — RabbitMQ's reject-publish and drop-head); a
  /// payload larger than the limit by itself is refused with `Errc::payload_too_large`.
  std::size_t max_length_bytes = 0;
  /// RabbitMQ's `x-single-active-consumer`: only one consumer receives at a time — the first
  /// registered of those still open; the others wait (their receives time out empty) until it
  /// closes, then the next registered takes over, and the messages it held come back first, so
  /// the queue is consumed in order by one consumer at a time.
  bool single_active_consumer = false;
  /// `memory` (default), or a durable level: accepted messages, acknowledgements and attempt
  /// counts are kept under the broker's `data_dir` and survive a restart (see durability.hpp).
  Durability durability = Durability::memory;
  /// Durable queues: segment size, space reservation and group commit of its journal; zero
  /// fields take `BrokerOptions::storage`'s (switchyard/storage_options.hpp).
  StorageOptions storage{};

  // --- lifetime (RabbitMQ's queue properties) --------------------------------------------
  // A queue these delete is deleted as by `Broker::delete_queue`: its consumers are told
  // `closed`, its bindings and subscriptions removed, and the messages it still holds are
  // discarded — not dead-lettered (RabbitMQ drops them too; it dead-letters none on expiry).

  /// RabbitMQ's exclusive queue. Only its owner — the `Queue` handle `declare_queue` returned,
  /// its copies, and consumers made from it with `Broker::consumer(const Queue&)` — may consume
  /// it; `Broker::consumer(name)`, a re-declare and `delete_queue` fail with `Errc::locked`
  /// (RabbitMQ's RESOURCE_LOCKED). Anyone may send to it, bind it and subscribe it (as in
  /// RabbitMQ, where anyone may publish to it). It is deleted when its owner is gone: the last
  /// of those handles and consumers (RabbitMQ: when the declaring connection closes). Only in
  /// memory: with a durable level the declare fails with `invalid_argument` (RabbitMQ's
  /// exclusive queues are transient).
  bool exclusive = false;
  /// RabbitMQ's auto-delete: the queue is deleted when its last consumer closes, once it has had
  /// at least one (a queue that never had one stays). A durable one keeps the option and its
  /// messages over a restart, and the reopened queue starts as one just declared: it is deleted
  /// when the last consumer of the new run closes (not for consumers before the restart; it
  /// stays if none comes), its files with it, as `Broker::delete_queue` removes them. A
  /// broker's shutdown deletes nothing.
  bool auto_delete = false;
  /// RabbitMQ's `x-expires`: the queue is deleted once it has been unused this long by the
  /// broker's clock — unused meaning no consumer and no re-declare (sends do not count, as in
  /// RabbitMQ); 0: never. The broker's expiry thread deletes it within a millisecond of real
  /// time on a `ManualClock` (at once on a real one). A durable one keeps the option over a
  /// restart and its unused time starts again at the reopen (RabbitMQ: "the lease is renewed
  /// on restart"); deleted, its files go too, as with `Broker::delete_queue`.
  Duration expires{0};

  /// Where the queue lives: null, in this process; a transport (`switchyard::rabbitmq::
  /// connect`, switchyard/transport.hpp), on it — sends are published there, consumers consume
  /// there, and settling a delivery settles it there. What the transport cannot carry of these
  /// options is `invalid_argument` at declare.
  std::shared_ptr<Transport> transport{};

  friend bool operator==(const QueueOptions&, const QueueOptions&) = default;
};

/// A snapshot of a queue's counters. Each counter is exact; the snapshot as a whole is not
/// atomic (counters are read one after another while traffic flows).
struct QueueStats {
  std::string name;
  std::size_t depth = 0;        ///< ready + delayed messages
  std::size_t in_flight = 0;    ///< delivered, not yet acknowledged
  std::size_t consumers = 0;
  std::uint64_t enqueued = 0;   ///< accepted sends (duplicates excluded)
  std::uint64_t deduplicated = 0;
  std::uint64_t delivered = 0;  ///< deliveries, redeliveries included
  std::uint64_t redelivered = 0;
  std::uint64_t acked = 0;
  std::uint64_t nacked = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t expired = 0;
  std::uint64_t dropped = 0;    ///< dropped by policy (no dead-letter queue configured)
  std::uint64_t rejected_full = 0;
  std::uint64_t purged = 0;  ///< removed by `Queue::purge`
  /// Payload bytes of the ready + delayed messages (kept for a queue with `max_length_bytes`;
  /// 0 for one without).
  std::uint64_t bytes = 0;
  std::uint64_t handler_errors = 0;
  // What recovery found when a durable queue was opened (0 for an in-memory queue); the
  // details, with file and offset, are in `Broker::recovery_report()`.
  std::uint64_t recovered = 0;                  ///< accepted, unsettled messages put back
  std::uint64_t recovery_truncated_bytes = 0;   ///< torn-tail bytes truncated
  std::uint64_t recovery_removed_segments = 0;  ///< half-created segments removed
  std::uint64_t recovery_skipped_regions = 0;   ///< damaged regions skipped (salvage)
  std::uint64_t recovery_skipped_bytes = 0;     ///< bytes in those regions
  /// How old each message was when it was delivered: from its send (or its dead-lettering,
  /// for a dead letter) to the receive that took it, by the broker's clock, redeliveries
  /// included. Exact with a `ManualClock`; with the system clock, to within its coarse tick
  /// (the send is stamped by the coarse clock). A recovered message's age counts from its
  /// original send.
  LatencyHistogram delivery_age;
};

/// Where a message is in its queue, as `Queue::peek` sees it.
enum class MessageState : std::uint8_t {
  ready,      ///< deliverable now
  delayed,    ///< waiting out a delay or a retry backoff
  in_flight,  ///< delivered, not yet settled (held by a consumer, under its lease)
};

/// One message of a queue, seen without taking it: what RabbitMQ's management UI and Redis's
/// XPENDING (id, consumer, idle time, delivery count) show.
struct PeekedMessage {
  MessageState state = MessageState::ready;
  MessageId id = 0;
  /// Deliveries so far (0: never delivered); in flight, the attempt of the current delivery.
  std::uint32_t attempt = 0;
  /// Since its send (for a dead letter: its dead-lettering), by the broker's clock.
  Duration age{0};
  /// Delayed: when it becomes ready. In flight: its lease — the visibility deadline after
  /// which it is taken back (TimePoint::max(): none, it is held until its consumer closes).
  /// Ready: the peek's time.
  TimePoint visible_at{};
  /// In flight: the tag of the consumer holding it (`Consumer::tag()`); empty otherwise.
  std::string holder{};
  /// Ready and delayed: the message (shared with the queue, not copied). In flight: empty — a
  /// peek reads a held delivery's id, attempt and lease, never its message.
  Message message{};
};

/// A handle to a declared queue. Cheap to copy; stays valid (and reports `closed`) after the
/// queue is deleted. Thread-safe.
///
/// The handle `declare_queue` returns for an `exclusive` queue is its owner: it (and its copies)
/// keeps the queue alive, and only it can make consumers of it (`Broker::consumer(queue)`).
class SWITCHYARD_EXPORT Queue {
 public:
  Queue() = default;

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const QueueOptions& options() const noexcept;
  [[nodiscard]] QueueStats stats() const;
  /// Ready + delayed messages (exact when no send or receive is in progress).
  [[nodiscard]] std::size_t depth() const noexcept;
  [[nodiscard]] bool closed() const noexcept;
  /// RabbitMQ's queue.purge (SQS PurgeQueue): removes every message the queue holds ready or
  /// delayed — not those in flight, which their consumers still settle — and returns how
  /// many. Purged messages are discarded, not dead-lettered; on a durable queue the removal
  /// is journaled, so they do not come back after a restart. Sends during the purge may land
  /// before or after it. @note threadsafe
  std::size_t purge() noexcept;
  /// Up to `max` of the queue's messages without taking them: the ready ones in about the order
  /// they would be delivered (priority, then groups, then FIFO), then the delayed ones by due
  /// time, then the in-flight ones consumer by consumer. Takes nothing, changes no attempt
  /// count, starts no lease. Each entry is exact; the list is not one atomic snapshot while
  /// messages move (a message may be seen twice or not at all as it changes state). Costs a
  /// walk of the queue under its slow-path lock: for inspection and tools, not for a hot loop.
  /// An in-memory queue's lock-free ring is moved behind that lock by the first peek (its
  /// order kept), so a peek costs the next receives their run fast path until it drains.
  /// @note threadsafe
  [[nodiscard]] std::vector<PeekedMessage> peek(std::size_t max = 100) const;
  /// Whether this handle owns its exclusive queue (false for every other queue and handle).
  [[nodiscard]] bool owner() const noexcept { return owner_ != nullptr; }
  explicit operator bool() const noexcept { return state_ != nullptr || remote_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit Queue(std::shared_ptr<detail::QueueState> state,
                 std::shared_ptr<const void> owner = nullptr) noexcept
      : state_(std::move(state)), owner_(std::move(owner)) {}
  explicit Queue(std::shared_ptr<detail::RemoteQueue> remote) noexcept;

  std::shared_ptr<detail::QueueState> state_;
  /// A queue a transport holds (transport/remote_queue.hpp); then `state_` is null.
  std::shared_ptr<detail::RemoteQueue> remote_;
  /// An exclusive queue's owner token (its last copy going away deletes the queue); else null.
  std::shared_ptr<const void> owner_;
};

}  // namespace switchyard
