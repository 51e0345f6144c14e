// src/queue/queue_state.hpp — the machinery behind a Queue and its Consumers.
//
// Data structures
// ---------------
//   QueueState
//     ring_     SpillRing<Message> (spill_ring.hpp): new priority-0, undelayed, ungrouped
//               messages (the hot path). Its lock-free ring has min(capacity, 4096) cells of
//               16 bytes (turn + message pointer); admitted messages that do not fit wait in
//               its spill lane (a deque under its own mutex, 8 bytes a message, allocated as
//               it grows) behind the ring, and while the spill holds anything every new send
//               goes there too, so FIFO holds across the two. `capacity` is a limit counted
//               by admitted_/removed_, never a reservation: memory follows what is queued.
//               A first delivery's expiry is computed from the message's send time when it
//               is taken.
//               Delayed first deliveries that may wait here join it when they come due.
//     slow_     under slow_.mutex: everything else that is ready or waiting —
//               levels[p]      FIFO per priority level p (priority messages, and messages that
//                              come back after a nack or a lost consumer: those ahead of the
//                              new ones, redelivered_front[p] of them);
//               delayed        min-heap by visible time (delay, retry backoff);
//               groups         message group → FIFO + "one in flight" flag; ready_groups lists
//                              groups whose head may be delivered now;
//               dedup          deduplication ids seen within the window (util/dedup_window.hpp,
//                              the mechanism topics use too).
//     admitted_ / removed_  monotonic counters on their own cache lines; depth = difference.
//                           Producers (and requeues) bump admitted_, takers bump removed_.
//     consumers_  registry of ConsumerState, for the visibility-timeout scan and close, in
//                 registration order; active_ (single_active_consumer) is the one of them that
//                 may receive: the first registered, chosen under consumers_mutex_.
//     bytes_      payload bytes admitted and not yet removed (kept only with a
//                 max_length_bytes: reserved by the sender as admitted_ is, given back by
//                 whoever bumps removed_).
//
//   ConsumerState
//     chunks_   up to `prefetch` in-flight slots, created as the window fills: chunk k holds
//               base << k slots (base = min(prefetch, 256) rounded up to a power of two), so
//               memory follows the most deliveries held at once, not `prefetch`. A slot's
//               `state` is a generation counter: even = free, odd = held by the delivery that
//               was handed that exact odd value. slots_used_ counts the slots created.
//               A slot also counts the delivery ages (first kSlotAgeBuckets buckets) and the
//               acks of its deliveries with plain stores; stats sums them over the slots.
//     free_     SpillRing<uint32_t> of free slot indices: a receive that cannot pop an index
//               creates the next slot (under grow_mutex_) while slots_used_ < prefetch, and
//               is at its prefetch limit otherwise.
//
// Order at level 0 (in-memory queues)
// -----------------------------------
//   README: FIFO per level for first deliveries, redelivered ahead of new ones of their level.
//   Receives take slow_ first, so at level 0 slow_.levels[0] may only hold what is allowed
//   ahead of every ring message: redeliveries (nack, visibility timeout, consumer close — and
//   a retry after its backoff, which is a redelivery too). A first delivery is ready-ordered
//   by the moment it becomes ready, as a delayed message in SQS/RabbitMQ is enqueued at its
//   due time, so:
//   * a plain send goes to ring_ (ring or spill); ring_.try_push fails only out of memory,
//     and that send is refused, never diverted to slow_ (the stress test's per-producer order);
//   * a ring-eligible first delivery that comes due (delay, deliver_after) is pushed to
//     ring_'s tail by promote_due_locked, never into slow_.levels[0];
//   * that promotion happens no later than a send whose time is at or after the due time:
//     every ring push (push_ring) first loads next_due_ns_ (acquire, one shared line that
//     only slow_ writers store to) and promotes under slow_.mutex when something is due. The
//     hint is stored (release) under slow_.mutex after the promotion's push, so a send that
//     reads "nothing due" after a promotion also sees the promoted message ahead of it, and
//     one that reads a stale "due" merely takes the mutex and finds nothing. Messages sent
//     before the due time were pushed before the promotion (a receive or send promotes it).
//   Groups, priorities above 0 (max_priority > 0) and durable queues keep everything in slow_,
//   whose levels and heap keep those orders.
//   One exception: a peek or an extract (Queue::peek, a message move) lifts ring_'s whole
//   content to the tail of slow_.levels[0] under slow_.mutex (lift_ring_locked). Those first
//   deliveries were ahead of every message still to come into ring_, so levels[0] is then
//   redelivered_front[0] redeliveries, then lifted first deliveries, then ring_ — FIFO holds,
//   and drop_oldest takes a lifted one before ring_'s head. While it lifts, ring_ looks empty
//   and slow_ready_ does not yet count the lifted messages, so a receive may park in between:
//   a lift is followed by a notify of ready_, as every other change that makes work ready is.
//
// Threading story
// ---------------
//   * Any thread may send. A send admits (capacity), then pushes to ring_ (its ring, or its
//     spill lane while the ring is full or the spill non-empty) or, for priority, delay,
//     group or dedup, takes slow_.mutex. It then notifies ready_ (an EventCount).
//   * Any thread may receive through a ConsumerState (a consumer's worker threads share it).
//     A receive pops a free slot index, takes an entry (slow_ first when slow_ready_ says so,
//     then ring_: its ring, then its spill), writes it into the slot and release-stores the
//     slot's odd state. Redelivered messages wait in slow_.levels, so they still go ahead of
//     new ones of their level, spilled or not.
//   * Out of memory (a spill block, a slow_ node) is Errc::out_of_memory for the send that
//     needed it, with its capacity reservation given back; a requeue that cannot be placed
//     is dead-lettered (or dropped and counted).
//   * Any thread may settle a delivery (ack / nack / reject): it CASes the slot's state from
//     the delivery's odd value to the next even one. Exactly one party wins that CAS — the
//     delivery, the visibility scan, or the consumer's close — so a message is settled once.
//   * The visibility scan runs on whichever receiving thread first sees its due time; it
//     holds consumers_mutex_ (shared) and takes back expired slots with the same CAS.
//   * Durable queues (a journal_) keep every entry in slow_ (an entry carries its journal seq,
//     a ring cell only a message) and record each send, delivery and settlement in the
//     journal (queue_journal.hpp) before it counts; a restart replays what was not settled.
//   * Single active consumer: active_ is written under consumers_mutex_ (register picks the
//     first consumer, a closing active consumer clears it, and after putting back what it held
//     elects the next registered), read lock-free (acquire) by every receive, which finds
//     nothing while it is not the active one. An election notifies ready_.
//   * Purge: pops the ring and empties slow_'s levels, groups and delay heap (under its mutex),
//     counting each as removed, then journals the drops outside the lock.
//   * Lifetime (exclusive, auto_delete, expires): the broker hands the queue, before it is
//     shared, a `QueueLifecycle` — what to call to delete it (`retire`) and whom to tell that it
//     lost its last consumer (`unused`, which starts its expiry). `retire` runs at most once
//     (retiring_), on the thread that made the queue go — the one that closed its last
//     consumer, dropped its exclusive owner, or the broker's expiry thread — with no lock of
//     the queue held. unused_since_ns_ is written under consumers_mutex_, read lock-free.
//   * Lock order: consumers_mutex_ before slow_.mutex before ring_'s spill mutex (a due
//     message is pushed into ring_ under slow_.mutex; the spill mutex is innermost, it takes
//     nothing else); a dead-letter queue's locks are taken
//     after ours and never the other way round (dead-letter chains must not form a cycle;
//     declare checks that).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "durable/queue_journal.hpp"
#include "route/destination.hpp"
#include "route/hooks.hpp"
#include "route/send_completion.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/detail/cache_line.hpp"
#include "switchyard/detail/ring.hpp"
#include "switchyard/interceptor.hpp"
#include "switchyard/message.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/wait_strategy.hpp"
#include "sync/capacity_gate.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"
#include "sync/mutex.hpp"
#include "sync/ready_fd.hpp"
#include "sync/spill_ring.hpp"
#include "util/access.hpp"
#include "util/dedup_window.hpp"
#include "util/latency_recorder.hpp"
#include "util/time.hpp"

namespace switchyard {
class Delivery;
}

namespace switchyard::detail {

/// One message's place in one queue.
struct Entry {
  Message message;
  std::int64_t expires_at_ns = 0;  // monotonic; 0: never
  std::uint32_t deliveries = 0;    // how many times it has been delivered so far
  std::uint64_t seq = 0;           // durable queues: the message's seq in the journal
};
static_assert(std::is_nothrow_move_constructible_v<Entry> &&
                  std::is_nothrow_move_assignable_v<Entry>,
              "entries move through the lock-free ring");

/// Why a message leaves a queue without an ack. Also the dead letter's `x-death-reason`.
namespace reason {
inline constexpr std::string_view rejected = "rejected";
inline constexpr std::string_view max_deliveries = "max_deliveries";
inline constexpr std::string_view expired = "expired";
inline constexpr std::string_view overflow = "overflow";
inline constexpr std::string_view out_of_memory = "out_of_memory";  // no memory to requeue it
}  // namespace reason

class ConsumerState;
class QueueState;

/// How many of LatencyHistogram's first buckets a consumer's slots count delivery ages in
/// (ConsumerState::YoungAges).
inline constexpr std::size_t kSlotAgeBuckets = 4;

/// Where the settlements of an *inbox* go: a queue that holds, for one consumer of a queue a
/// transport holds (transport/remote_queue.hpp), the deliveries the server pushed to it. The
/// consumer receives, settles, closes and is woken through the inbox like any queue's
/// consumer; the inbox hands each settlement to its sink instead of acting on it, and the sink
/// settles the delivery on the server (RabbitMQ's basic.ack / basic.nack / basic.reject).
/// An inbox entry's `seq` is the sink's (the server's delivery tag and channel).
/// Set once before the inbox is shared (`QueueState::set_inbox`). Each call must not throw and
/// must not call back into the inbox.
class InboxSink {
 public:
  virtual ~InboxSink() = default;
  /// `entry` was acked. `stale_delivery` when the server no longer knows its delivery (the
  /// channel it came on has dropped: the server has put it back already).
  virtual Status ack(const Entry& entry) noexcept = 0;
  /// `entry` comes back (a nack with requeue, or its consumer closed): the server requeues it.
  virtual void requeue(Entry&& entry) noexcept = 0;
  /// `entry` was rejected: the server dead-letters it (or drops it) by the queue's arguments.
  virtual void reject(Entry&& entry, std::string_view why) noexcept = 0;
  /// The inbox's last consumer has unregistered (closed): the server may stop delivering.
  virtual void consumer_closed() noexcept = 0;
};

/// What a queue with a lifetime (exclusive, auto_delete, expires) asks of the broker that made
/// it (src/broker/queue_expiry.hpp implements it). Called with no lock of the queue held.
struct QueueLifecycle {
  /// Deletes `queue` as `Broker::delete_queue` would, if it is still registered. Must not throw.
  std::function<void(QueueState& queue)> retire;
  /// `queue` has just lost its last consumer: its `expires` starts counting. Must not throw.
  std::function<void(QueueState& queue)> unused;
};

class QueueState final : public Destination, public std::enable_shared_from_this<QueueState> {
 public:
  /// `hooks`: the broker's interceptors and log (route/hooks.hpp), told of every settlement,
  /// redelivery, expiry and dead letter, and of drops and journal errors nobody else hears.
  /// `dead_letter`: where dead letters go (a queue, or an exchange that routes them), or null.
  QueueState(std::string name, QueueOptions options, std::shared_ptr<Clock> clock,
             std::shared_ptr<Destination> dead_letter,
             std::unique_ptr<QueueJournal> journal = nullptr,
             std::shared_ptr<const Hooks> hooks = Hooks::none());

  /// Durable queues: puts back every message the journal holds unsettled, with its attempt
  /// count. Returns how many, and the highest message id seen (ids continue above it).
  Result<std::pair<std::size_t, MessageId>> recover();
  [[nodiscard]] bool durable() const noexcept { return journal_ != nullptr; }
  /// What recovery found (durable queues; written by `recover`, which runs before the queue
  /// is shared, and fixed after).
  [[nodiscard]] const StreamRecovery& recovery() const noexcept { return recovery_; }
  ~QueueState() override;

  [[nodiscard]] DestinationKind kind() const noexcept override { return DestinationKind::queue; }
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] const QueueOptions& options() const noexcept { return options_; }
  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  [[nodiscard]] const Hooks& hooks() const noexcept { return *hooks_; }
  /// Where dead letters go: a queue or an exchange (null: nowhere, they are dropped).
  [[nodiscard]] const std::shared_ptr<Destination>& dead_letter_destination() const noexcept {
    return dead_letter_;
  }

  // --- producer side -------------------------------------------------------------------
  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  /// One capacity reservation and one wake-up for the whole run when there is room for all of
  /// it; otherwise (or with a dedup id, or durable) message by message.
  Result<std::size_t> accept_batch(std::span<Message> messages,
                                   const SendOptions& options) noexcept override;

  // --- consumer side -------------------------------------------------------------------
  enum class Take : std::uint8_t { got, empty, closed };
  /// Takes the next deliverable entry (highest priority, FIFO within a level); expired
  /// entries met on the way are dead-lettered or dropped. @note threadsafe
  Take try_take(Entry& out, TimePoint now) noexcept;
  /// Takes up to `out.size()` entries from the ring with one count and one wake-up of blocked
  /// senders; when the slow path has something ready, takes one entry by its rules instead.
  /// Returns how many were taken (0: nothing ready, or closed). @note threadsafe
  std::size_t try_take_run(std::span<Entry> out, TimePoint now) noexcept;
  /// Whether a take might succeed now (a hint for waiters). @note threadsafe
  [[nodiscard]] bool maybe_ready(TimePoint now) const noexcept;
  /// Whether a message is ready, or a ready slow-path entry, without reading the clock (delayed
  /// messages coming due are not seen). @note threadsafe
  [[nodiscard]] bool ready_hint() const noexcept {
    return !ring_.empty_guess() || slow_ready_.load(std::memory_order_acquire) != 0;
  }
  /// The earliest time something not ready now may become ready (delayed message due,
  /// visibility deadline), for a waiter's timeout. @note threadsafe
  [[nodiscard]] TimePoint next_wakeup() const noexcept;
  /// Takes back deliveries whose visibility timeout passed, if a scan is due. @note threadsafe
  void maybe_scan_visibility(TimePoint now) noexcept {
    // Relaxed: a stale due time only moves the scan to the next receive.
    if (now.time_since_epoch().count() >= next_scan_ns_.load(std::memory_order_relaxed)) {
      scan_visibility(now);
    }
  }

  /// A delivered entry comes back (nack, visibility timeout, consumer closed): retried after
  /// the backoff, or dead-lettered once `max_deliveries` is reached. @note threadsafe
  void requeue(Entry&& entry, TimePoint now) noexcept;
  /// A delivered entry was acknowledged (recorded in the journal of a durable queue; the
  /// Status says whether that record was written). @note threadsafe
  Status settled(const Entry& entry) noexcept;
  /// Whether `settled(entry)` has nothing to do (no group to release, no journal to write).
  [[nodiscard]] bool settle_is_trivial(const Entry& entry) const noexcept {
    return journal_ == nullptr && inbox_ == nullptr && Access::body(entry.message)->group_size == 0;
  }
  /// A delivery of `entry` was made at `now` (monotonic): counts its age (into `tally` when
  /// given — the caller then adds it with `count_delivery_ages` — else straight into the
  /// queue's recorder) and, on a durable queue, journals the attempt. @note threadsafe
  /// `count_age` false: the caller counted the age itself (ConsumerState's per-slot counts of
  /// first-bucket ages, added in by `stats`).
  void delivered(const Entry& entry, TimePoint now, LatencyRecorder::Tally* tally = nullptr,
                 bool count_age = true) noexcept {
    if (count_age) {
      const std::int64_t age = ns(now) - Access::body(entry.message)->sent_ns;
      if (tally != nullptr) {
        tally->record(age);
      } else {
        delivery_age_.record(age);
      }
    }
    // A failure here loses only the attempt count's increment (the message stays unsettled).
    if (journal_)
      journal_failed("a delivery's attempt count",
                     journal_->record_delivery(entry.seq, entry.deliveries));
  }
  /// Adds the delivery ages a run of receives counted on its stack. @note threadsafe
  void count_delivery_ages(const LatencyRecorder::Tally& tally) noexcept {
    delivery_age_.add(tally);
  }
  /// Sends the entry to the dead-letter queue or exchange (or drops and counts it): as a
  /// derived message carrying x-death-* headers and `dead_letter_routing_key`. Never waits for
  /// room (see `DeadLettering`). @note threadsafe
  void dead_letter(Entry&& entry, std::string_view why) noexcept;

  void register_consumer(ConsumerState* consumer);
  /// single_active_consumer: makes the first registered consumer the active one if none is, and
  /// wakes the waiting receivers. Called by a closing active consumer once it has put back what
  /// it held (so its successor sees those messages first). @note threadsafe
  void elect_active_consumer() noexcept;
  /// Whether `consumer` may receive now: always, unless the queue has a single active
  /// consumer and it is another. @note threadsafe, lock-free
  [[nodiscard]] bool may_receive(const ConsumerState* consumer) const noexcept {
    // Acquire: pairs with the release stores under consumers_mutex_.
    return !options_.single_active_consumer || active_.load(std::memory_order_acquire) == consumer;
  }
  /// `Queue::purge`: removes every ready and delayed message; how many. @note threadsafe
  std::size_t purge() noexcept;
  /// Also where an `auto_delete` queue that lost its last consumer retires.
  void unregister_consumer(ConsumerState* consumer) noexcept;

  // --- lifetime (exclusive, auto_delete, expires) --------------------------------------------
  /// Sets what `retire` and the loss of the last consumer call, and the exclusive owner's
  /// token (null: not exclusive). Once, before the queue is shared.
  void set_lifecycle(QueueLifecycle lifecycle, const void* owner) noexcept {
    lifecycle_ = std::move(lifecycle);
    owner_ = owner;
  }
  /// The token of the handle that owns this exclusive queue; null for a queue that is not.
  [[nodiscard]] const void* exclusive_owner() const noexcept { return owner_; }
  /// Since when (monotonic ns) the queue has had no consumer and no re-declare; INT64_MAX while
  /// it has a consumer. @note threadsafe
  [[nodiscard]] std::int64_t unused_since_ns() const noexcept {
    // Acquire: pairs with the release stores under consumers_mutex_.
    return unused_since_ns_.load(std::memory_order_acquire);
  }
  /// Whether its `expires` has run out at `now` (never for expires = 0). @note threadsafe
  [[nodiscard]] bool expired(TimePoint now) const noexcept;
  /// A re-declare: its expiry starts over (RabbitMQ: a re-declare is a use). @note threadsafe
  void touch() noexcept;
  /// Has the broker delete this queue (lifecycle's `retire`); only the first call does
  /// anything. Holds no lock of the queue when called. @note threadsafe
  void retire() noexcept;
  /// Whether `retire` was called. @note threadsafe
  [[nodiscard]] bool retiring() const noexcept { return retiring_.load(std::memory_order_acquire); }

  EventCount& ready_event() noexcept { return ready_; }

  // --- inboxes (see InboxSink) -----------------------------------------------------------
  /// Makes this queue an inbox whose settlements go to `sink` (kept alive by the caller for
  /// the queue's life). Once, before the queue is shared.
  void set_inbox(InboxSink* sink) noexcept { inbox_ = sink; }
  /// Puts a delivery the server pushed at the back of the inbox, in arrival order (whatever
  /// its priority: the server ordered it), with `entry.deliveries` its earlier deliveries.
  /// False (nothing taken) when out of memory or closed. @note threadsafe
  bool put_inbox(Entry&& entry) noexcept;

  void close(bool drain) noexcept override;
  [[nodiscard]] bool idle() const noexcept override;
  /// Refuses new sends (draining or closed).
  [[nodiscard]] bool closed_for_send() const noexcept {
    return send_closed_.load(std::memory_order_acquire);
  }
  /// Receives fail with `closed` (a stop, or a delete).
  [[nodiscard]] bool closed_for_receive() const noexcept {
    return receive_closed_.load(std::memory_order_acquire);
  }

  [[nodiscard]] QueueStats stats() const;
  /// Queue::peek: up to `max` ready, then delayed, then in-flight messages. @note threadsafe
  [[nodiscard]] std::vector<PeekedMessage> peek(std::size_t max);
  /// Takes out of the queue, in delivery order, up to `max` ready messages for which `take`
  /// returns true (never delayed or in-flight ones), as receives would take them (depth goes
  /// down) but delivered to nobody: the caller gives each back (`restore`) or settles it on a
  /// durable queue (`forget`). `take` runs under the slow-path lock: it must not call into
  /// this queue. @note threadsafe
  void extract(const std::function<bool(const Entry&)>& take, std::size_t max,
               std::vector<Entry>& out);
  /// Extracted entries come back, in order, ahead of the first deliveries of their level (a
  /// group's at the group's tail). One that finds no memory is dead-lettered (reason
  /// out_of_memory), never lost unseen. @note threadsafe
  void restore(std::span<Entry> entries) noexcept;
  /// Recovery of a move cut short: if the entry with journal seq `seq` holds message `id`, it
  /// left this queue before the crash (its copy is in another queue): out of the queue and
  /// settled in the journal. Before the queue is used. @note threadsafe
  bool forget(std::uint64_t seq, MessageId id) noexcept;
  /// A message moved here from another queue (Broker::move_messages), in two steps so a crash
  /// leaves it in exactly one queue: it is admitted (never waiting for room: a full queue
  /// refuses) and, on a durable queue, written to the journal; then `commit` runs (the source
  /// settles its copy); only then may consumers see it. If `commit` fails, it is dropped from
  /// the journal and the failure returned. @note threadsafe
  Status accept_moved(Message&& message, const std::function<Status()>& commit) noexcept;
  /// A move into this queue that a crash may have cut short: the source queue's name, the
  /// message's seq in the source's journal and its id (from the x-moved-* headers of what
  /// `recover` restored; durable queues).
  struct MovedIn {
    std::string source;
    std::uint64_t seq = 0;
    MessageId id = 0;
  };
  /// What `recover` found moved in; taken once, by the broker's open (message_move.hpp).
  std::vector<MovedIn> take_moved_in() noexcept { return std::move(moved_in_); }
  /// The journal (durable queues; null otherwise).
  [[nodiscard]] QueueJournal* journal() const noexcept { return journal_.get(); }
  [[nodiscard]] std::size_t depth() const noexcept;
  [[nodiscard]] std::size_t consumer_count() const;

  /// A delivery with this visibility deadline was just made. @note threadsafe
  void note_delivery_deadline(std::int64_t deadline_ns) noexcept;
  /// A held delivery's deadline moved to `deadline_ns`, perhaps ahead of every other one
  /// (change_visibility): the next scan comes no later. @note threadsafe
  void note_earlier_deadline(std::int64_t deadline_ns) noexcept;

  // Counters bumped by consumers.
  void count_handler_error() noexcept { handler_errors_.fetch_add(1, std::memory_order_relaxed); }
  /// A push consumer's handler threw `what` (counted by count_handler_error): logged,
  /// throttled. @note threadsafe
  void log_handler_error(std::string_view what) noexcept;
  /// Logs (throttled) a journal record that could not be written and that no caller hears
  /// of; nothing when `status` is ok. @note threadsafe
  void journal_failed(std::string_view record, const Status& status) noexcept {
    if (!status) [[unlikely]]
      log_journal_failure(record, status);
  }
  void count_redelivered() noexcept { redelivered_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Delayed {
    std::int64_t visible_at_ns;
    std::uint64_t sequence;  // FIFO among equal times
    mutable Entry entry;     // moved out of the heap's top just before pop()
    bool operator>(const Delayed& other) const noexcept {
      return visible_at_ns != other.visible_at_ns ? visible_at_ns > other.visible_at_ns
                                                  : sequence > other.sequence;
    }
  };
  struct Group {
    std::deque<Entry> entries;
    bool busy = false;    // its head is in flight (or waiting out a retry delay)
    bool queued = false;  // listed in ready_groups
  };
  struct Slow {
    Mutex mutex;
    std::vector<std::deque<Entry>> levels GUARDED_BY(mutex);  // index: priority
    std::size_t level_items GUARDED_BY(mutex) = 0;            // entries in all levels
    /// Per level: how many entries at the front of levels[p] are redeliveries (they go ahead
    /// of the new ones of their level, FIFO among themselves).
    std::vector<std::size_t> redelivered_front GUARDED_BY(mutex);
    std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed GUARDED_BY(mutex);
    std::uint64_t delayed_sequence GUARDED_BY(mutex) = 0;
    std::unordered_map<std::string, Group> groups GUARDED_BY(mutex);
    std::deque<std::string> ready_groups GUARDED_BY(mutex);
    DedupWindow<MessageId> dedup GUARDED_BY(mutex);
  };

  Result<SendReceipt> admit(Message&& message, const SendOptions& options, TimePoint now) noexcept;
  /// Reserves room for one message, as the overflow policy says (may block, drop the oldest
  /// or refuse: sync/capacity_gate.hpp). The common case, room at once, is inline.
  bool reserve_capacity(TimePoint now) noexcept {
    return take_room(1) == Room::taken || reserve_capacity_slow(now);
  }
  /// The rest of reserve_capacity, after a first try found no room: the capacity gate.
  bool reserve_capacity_slow(TimePoint now) noexcept;
  /// Reserves room for `n` at once if it is there now; never waits or drops.
  bool try_reserve_capacity(std::uint64_t n) noexcept;
  /// One try at the capacity for `n` messages: counts them in admitted_ and keeps them there
  /// if they fit (Room::taken), else takes them back out (Room::full). Inline: the cached
  /// removed_seen_ (never above removed_, so a fit by it is a fit) decides the common case.
  Room take_room(std::uint64_t n) noexcept {
    const std::uint64_t after = admitted_.fetch_add(n, std::memory_order_acq_rel) + n;
    // Relaxed: removed_seen_ is a hint; take_room_checked's acquire re-read of removed_ is
    // what a refusal rests on.
    if (static_cast<std::int64_t>(after - removed_seen_.load(std::memory_order_relaxed)) <=
        static_cast<std::int64_t>(options_.capacity)) {
      return Room::taken;
    }
    return take_room_checked(n, after);
  }
  /// take_room's answer by the real removed_, for the `n` counted up to `after`.
  Room take_room_checked(std::uint64_t n, std::uint64_t after) noexcept;
  /// Puts an admitted entry where takers find it; wakes them unless `wake` is false (the
  /// caller then calls ready_.notify_all() itself). False when out of memory: `entry` is left
  /// untouched and the caller gives the admission back.
  bool place(Entry&& entry, std::int64_t visible_at_ns, std::int64_t now_ns,
             bool wake = true) noexcept;
  /// Whether a message that is ready and not yet delivered may wait in the ring: it is not in
  /// a group, its priority does not matter here, and the queue keeps no journal.
  [[nodiscard]] bool ring_eligible(const MessageBody& body) const noexcept {
    return body.group_size == 0 && (body.priority == 0 || options_.max_priority == 0) &&
           journal_ == nullptr;
  }
  /// Pushes a ready first delivery into ring_: at the tail of level 0, so first the delayed
  /// messages that came due by `now_ns` (due before it was sent, they go ahead of it). False
  /// when out of memory (`message` untouched).
  [[gnu::always_inline]] bool push_ring(Message&& message, std::int64_t now_ns) noexcept {
    // Acquire: pairs with refresh_slow_hints_locked's release, so a due message that another
    // thread promoted (pushed before that store) is in ring_ before this push.
    if (next_due_ns_.load(std::memory_order_acquire) <= now_ns) [[unlikely]]
      promote_due(now_ns);
    return ring_.try_push(std::move(message));
  }
  /// Moves the delayed entries due by `now_ns` to where takers find them. @note threadsafe
  [[gnu::noinline]] void promote_due(std::int64_t now_ns) noexcept;
  void scan_visibility(TimePoint now) noexcept;
  /// False when out of memory (`entry` untouched).
  bool place_ready_locked(Entry&& entry) noexcept REQUIRES(slow_.mutex);
  bool take_slow_locked(Entry& out, TimePoint now) REQUIRES(slow_.mutex);
  /// Due delayed entries: ring-eligible first deliveries to ring_'s tail, the rest to slow_.
  /// Stops at the first that finds no memory (it stays due, for the next call).
  void promote_due_locked(TimePoint now) REQUIRES(slow_.mutex);
  void release_group_locked(std::string_view group) REQUIRES(slow_.mutex);
  void release_group(const Entry& entry) noexcept;
  /// Stores `message` in the journal; returns its seq. At `Durability::batch` with an
  /// `on_complete`, `deferred` is the send's report, for admit to complete (null otherwise).
  Result<std::uint64_t> journal_append(Message& message, const SendOptions& options,
                                       DeferredCompletion*& deferred) noexcept;
  void refresh_slow_hints_locked() noexcept REQUIRES(slow_.mutex);
  /// Moves every message of ring_ (ring and spill, in order) to the tail of slow_.levels[0],
  /// as first deliveries (behind the redeliveries there, ahead of everything sent later, so
  /// FIFO holds): what a peek or an extract must see under the mutex. Stops at the first
  /// message that finds no memory: it goes back to ring_'s tail or, failing that, to `orphan`
  /// for the caller to dead-letter once the mutex is released (null message: none). Returns how
  /// many it moved: a caller that moved any must notify ready_ once the hints are refreshed,
  /// since between its last pop and that refresh a receive sees neither ring_ nor slow_ ready
  /// and may park.
  [[nodiscard]] std::size_t lift_ring_locked(Entry& orphan) REQUIRES(slow_.mutex);
  /// Dead-letters `orphan` (reason out_of_memory) if it holds one; no lock held.
  void dead_letter_orphan(Entry& orphan) noexcept;
  bool drop_oldest(TimePoint now) noexcept;
  /// max_length_bytes: reserves `n` payload bytes as the overflow policy says (may block until
  /// the send timeout, drop the oldest, or refuse). @note threadsafe
  bool reserve_bytes(std::uint64_t n, TimePoint now) noexcept;
  /// Counts `n` removed payload bytes back (max_length_bytes queues; nothing otherwise).
  void remove_bytes(std::uint64_t n) noexcept {
    if (options_.max_length_bytes != 0) [[unlikely]] {
      bytes_.fetch_sub(n, std::memory_order_acq_rel);
      if (options_.overflow == Overflow::block) space_.notify_all();
    }
  }
  /// Counts `n` admitted payload bytes without a limit check (requeues, dead letters, recovery).
  void add_bytes(std::uint64_t n) noexcept {
    if (options_.max_length_bytes != 0) [[unlikely]]
      bytes_.fetch_add(n, std::memory_order_acq_rel);
  }
  void expire(Entry&& entry) noexcept;
  /// A message left the queue for nobody (`why`): logged, throttled.
  void log_drop(std::string_view why) noexcept;
  void log_journal_failure(std::string_view record, const Status& status) noexcept;
  /// When a message expires here: its own TTL or the queue's (counted from its send).
  std::int64_t expiry_of(const MessageBody& body) const noexcept;

  const std::string name_;
  const QueueOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<Destination> dead_letter_;
  const std::unique_ptr<QueueJournal> journal_;
  const std::shared_ptr<const Hooks> hooks_;
  StreamRecovery recovery_;
  std::vector<MovedIn> moved_in_;  // written by recover, before the queue is shared

  /// Gives back one admission that found no memory, and says so.
  Result<SendReceipt> refuse_out_of_memory() noexcept;
  /// max_length_bytes: the byte reservation of an admitted send (`reserve_bytes`); on a
  /// refusal, gives its count reservation back and says why (an ok receipt: room taken).
  Result<SendReceipt> admit_bytes(std::uint64_t bytes, TimePoint now) noexcept;

  SpillRing<Message> ring_;
  Slow slow_;

  // Producer-side line: admitted_ (sends and requeues), and the producers' last look at
  // removed_. removed_ only grows, so a stale copy can only make the queue look fuller than it
  // is: a sender re-reads the real removed_ (a cache miss on the consumers' line) only when the
  // copy says "full", not on every send.
  alignas(kCacheLine) std::atomic<std::uint64_t> admitted_{0};
  std::atomic<std::uint64_t> removed_seen_{0};
  // Consumer-side line: removed_ (takes, expiries, overflow drops).
  alignas(kCacheLine) std::atomic<std::uint64_t> removed_{0};
  // Hints read lock-free by takers, written under slow_.mutex.
  alignas(kCacheLine) std::atomic<std::uint32_t> slow_ready_{0};  // entries takeable in slow_
  std::atomic<std::int64_t> next_due_ns_{INT64_MAX};              // earliest delayed entry
  std::atomic<std::int64_t> next_scan_ns_{INT64_MAX};             // next visibility scan
  std::atomic<bool> send_closed_{false};
  std::atomic<bool> receive_closed_{false};

  EventCount ready_;  // something may be takeable (or a slot freed, or closed)
  EventCount space_;  // capacity may have been freed (Overflow::block senders wait here)

  // Rare counters (their own line, away from the hot ones).
  alignas(kCacheLine) std::atomic<std::uint64_t> requeued_{0};
  std::atomic<std::uint64_t> deduplicated_{0};
  std::atomic<std::uint64_t> dead_lettered_{0};
  std::atomic<std::uint64_t> expired_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> rejected_full_{0};
  std::atomic<std::uint64_t> overflow_removed_{0};
  std::atomic<std::uint64_t> purged_{0};
  // max_length_bytes: payload bytes admitted and not removed (see the top of this file).
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> handler_errors_{0};
  std::atomic<std::uint64_t> redelivered_{0};
  std::atomic<std::uint64_t> retired_acked_{0};  // acks of consumers that have closed
  std::atomic<std::uint64_t> retired_nacked_{0};
  // First-bucket delivery ages counted in the slots of consumers that have closed (see
  // ConsumerState::young_ages).
  std::atomic<std::uint64_t> retired_young_ages_[kSlotAgeBuckets] = {};
  std::atomic<std::uint64_t> retired_young_age_ns_{0};
  LogThrottle drop_log_;     // messages dropped, aggregated for the log
  LogThrottle handler_log_;  // push handlers' exceptions, aggregated for the log
  LogThrottle journal_log_;  // journal records that failed, aggregated for the log
  // Message age at delivery, recorded by every consumer's receive (their own line: consumers
  // write it on every delivery, senders never).
  alignas(kCacheLine) LatencyRecorder delivery_age_;

  mutable SharedMutex consumers_mutex_;
  std::vector<ConsumerState*> consumers_ GUARDED_BY(consumers_mutex_);
  /// single_active_consumer: the consumer that may receive (null: none yet, or a hand-over in
  /// progress). Written under consumers_mutex_, read lock-free.
  std::atomic<const ConsumerState*> active_{nullptr};

  // Lifetime: set once before sharing (set_lifecycle, set_inbox), then read-only.
  InboxSink* inbox_ = nullptr;
  QueueLifecycle lifecycle_;
  const void* owner_ = nullptr;
  std::atomic<bool> retiring_{false};
  std::atomic<std::int64_t> unused_since_ns_;  // INT64_MAX while a consumer is registered
};

/// How a delivery is settled: acked, back to the queue, or dead-lettered (declared, opaque, in
/// delivery.hpp).
enum class Settle : std::uint8_t { ack, requeue, dead_letter };

/// The in-flight slots a run of settles freed (Consumer::ack_all), given back to their
/// consumer's free list with one claim instead of one per settle (ConsumerState::free_slots).
/// On the settling thread's stack; not threadsafe.
struct FreedSlots {
  static constexpr std::size_t kMax = 64;
  std::uint32_t indices[kMax];
  std::size_t size = 0;
};

/// A consumer's in-flight window and its receive loop. Shared (shared_ptr) by the Consumer
/// handle and every Delivery it handed out, so a late ack never touches freed memory.
class ConsumerState : public std::enable_shared_from_this<ConsumerState> {
 public:
  /// Runs the queue's interceptors (a copy of the list is kept beside the hot fields).
  /// `tag`: how a peek names it; empty: "consumer-<n>", n unique in the process.
  ConsumerState(std::shared_ptr<QueueState> queue, std::uint32_t prefetch, WaitStrategy wait,
                std::string tag = {});
  ~ConsumerState();

  /// Waits up to `timeout` for one delivery. @note threadsafe
  Result<Delivery> receive(Duration timeout) noexcept;
  /// Waits up to `timeout` for the first delivery, then takes what else is ready, up to `max`
  /// and never beyond `out`'s reserved capacity (appending must not allocate here).
  Result<std::size_t> receive(std::vector<Delivery>& out, std::size_t max,
                              Duration timeout) noexcept;

  /// Settles the delivery holding slot `slot` at `generation`. Without `wake`, the caller
  /// promises one `wake_receivers()` after a run of settles. @note threadsafe
  /// With `freed`, the slot goes into it (given back when it fills, or by the caller's
  /// free_slots) instead of straight back to the free list.
  Status settle(std::uint32_t slot, std::uint64_t generation, Settle how, std::string_view why,
                bool wake = true, FreedSlots* freed = nullptr) noexcept;
  /// Gives the slots of `freed` back to the free list in one run and empties it; the caller
  /// then calls wake_receivers(). @note threadsafe
  void free_slots(FreedSlots& freed) noexcept;
  /// A receive waiting at its prefetch limit may go on: call after freeing a slot. What such
  /// a receive checks before it sleeps is free_.size_guess(), and the push that freed the slot
  /// claimed its cell with a seq_cst CAS (or, spilled, a seq_cst exchange), so no fence is
  /// needed (event_count.hpp).
  void wake_receivers() noexcept { queue_->ready_event().notify_all_after_seq_cst_rmw(); }
  /// Restarts the visibility timeout of a held delivery. @note threadsafe
  Status extend(std::uint32_t slot, std::uint64_t generation) noexcept;
  /// SQS ChangeMessageVisibility: the held delivery becomes visible `timeout` from now; 0 takes
  /// it back now, as its visibility timeout would. `invalid_argument` for a negative timeout or
  /// a deadline past kMaxVisibility after the delivery was received. @note threadsafe
  Status change_visibility(std::uint32_t slot, std::uint64_t generation, Duration timeout) noexcept;
  /// SQS's bound on a message's visibility: 12 hours from its receive.
  static constexpr Duration kMaxVisibility = std::chrono::hours(12);

  /// One held delivery as `peek` sees it.
  struct HeldView {
    MessageId id = 0;
    std::uint32_t attempt = 0;
    std::int64_t sent_ns = 0;      // its send (or dead-lettering), monotonic
    std::int64_t received_ns = 0;  // the receive that took it
    std::int64_t deadline_ns = 0;  // visibility deadline; INT64_MAX: none
  };
  /// Appends every delivery held now, by a consistent read of each slot (a slot settled or
  /// refilled while read is skipped or read again), up to `max` in all. Lock-free; exact when
  /// no receive or settle runs meanwhile. @note threadsafe
  void held(std::vector<HeldView>& out, std::size_t max) const;

  /// Takes back every held delivery whose deadline is at or before `now` (all when `now` is
  /// TimePoint::max()). Returns the earliest deadline still held. @note threadsafe
  std::int64_t reclaim(TimePoint now) noexcept;

  /// The readiness fd (Consumer::ready_fd), created and attached to the queue's ready event on
  /// the first call; `io_error` if the kernel refuses an eventfd. @note threadsafe
  Result<int> ready_fd() noexcept;
  /// How long an event loop may wait on the fd before it must receive anyway: until the
  /// queue's next timed wake-up (a delay ending, a visibility timeout), at most the clock's
  /// max_real_sleep(); Duration::max() when only a notify can make a message ready.
  [[nodiscard]] Duration ready_timeout() const noexcept;

  /// Refuses further receives and returns everything held to the queue. Idempotent.
  void close() noexcept;
  /// Makes blocked receives return (used by a push consumer's stop). @note threadsafe
  void interrupt() noexcept;
  void resume() noexcept { interrupted_.store(false, std::memory_order_release); }

  [[nodiscard]] const std::shared_ptr<QueueState>& queue() const noexcept { return queue_; }
  [[nodiscard]] const std::string& tag() const noexcept { return tag_; }
  /// Keeps `owner` (an exclusive queue's owner token) alive as long as this consumer. Once,
  /// before the consumer is shared.
  void keep_owner(std::shared_ptr<const void> owner) noexcept { owner_ = std::move(owner); }
  [[nodiscard]] std::size_t in_flight() const noexcept;
  /// Acks so far (a sum over the slots; exact once the settling threads are joined).
  [[nodiscard]] std::uint64_t acked() const noexcept;
  [[nodiscard]] std::uint64_t nacked() const noexcept {
    return nacked_.load(std::memory_order_relaxed);
  }
  /// Single receives count a delivery's age in its slot when it falls in one of the first
  /// kSlotAgeBuckets buckets of LatencyHistogram (at most kBoundsNs[kSlotAgeBuckets - 1]):
  /// two plain stores instead of two RMWs on the queue's recorder.
  static constexpr std::size_t kSlotAgeBuckets = detail::kSlotAgeBuckets;
  /// Those counts, and the sum of those ages: the queue's delivery_age adds them in.
  struct YoungAges {
    std::uint64_t counts[kSlotAgeBuckets] = {};
    std::uint64_t sum_ns = 0;
    void add(const YoungAges& other) noexcept {
      for (std::size_t b = 0; b < kSlotAgeBuckets; ++b) counts[b] += other.counts[b];
      sum_ns += other.sum_ns;
    }
  };
  /// A sum over the slots; exact once the receiving threads are joined. @note threadsafe
  [[nodiscard]] YoungAges young_ages() const noexcept;
  [[nodiscard]] bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  struct Slot {
    std::atomic<std::uint64_t> state{0};       // even: free; odd: held
    std::atomic<std::int64_t> deadline_ns{0};  // visibility deadline (monotonic)
    Entry entry;                               // valid while held
    // What `held` (a peek) reads of the delivery without touching `entry`: written by install
    // before its release store of `state`, with release stores of their own, so a reader that
    // loads them with acquire and then sees `state` unchanged knows they belong to that state
    // (a seqlock read; see held()).
    std::atomic<std::uint64_t> id{0};
    std::atomic<std::int64_t> sent_ns{0};
    std::atomic<std::int64_t> received_ns{0};
    std::atomic<std::uint32_t> attempt{0};
    // Acks of deliveries made from this slot. Written only by the winner of a settle CAS,
    // before it frees the slot (so no RMW is needed: the next writer comes after us through
    // free_ and state); read by stats.
    std::atomic<std::uint64_t> acks{0};
    // Ages at delivery of a single receive's deliveries from this slot that fall in the
    // histogram's first kSlotAgeBuckets buckets, and their sum: written only by install, which
    // owns the free slot (the previous install's writes reach it through state and free_, as
    // acks do), so no RMW; read by stats (young_ages). Other ages go to the queue's recorder.
    std::atomic<std::uint64_t> ages[kSlotAgeBuckets] = {};
    std::atomic<std::uint64_t> age_ns{0};
  };

  /// Slot `index` (one created already). Chunk k holds the indices
  /// [base·(2^k − 1), base·(2^(k+1) − 1)); chunk 0, the common case, is first_. @note threadsafe
  Slot& slot(std::uint32_t index) const noexcept {
    if (index < first_slots_) [[likely]]
      return first_[index];
    return slot_in_chunks(index);
  }
  Slot& slot_in_chunks(std::uint32_t index) const noexcept {
    const std::uint64_t j = std::uint64_t{index} + (std::uint64_t{1} << base_shift_);
    const unsigned k = static_cast<unsigned>(std::bit_width(j)) - 1 - base_shift_;
    // Acquire: pairs with new_slot's release store of the chunk (any user of an index came
    // after its creation anyway, through free_ or slots_used_).
    return chunks_[k].load(std::memory_order_acquire)[j - (std::uint64_t{1} << (base_shift_ + k))];
  }
  /// Creates the next slot while fewer than `prefetch` exist; false at the limit, or when out
  /// of memory for its chunk (the window then stays as large as it is). @note threadsafe
  bool new_slot(std::uint32_t& index) noexcept;
  /// Whether a receive could get a slot now (a hint). @note threadsafe
  [[nodiscard]] bool has_free_slot() const noexcept {
    // Relaxed: a hint, as size_guess() is.
    return free_.size_guess() != 0 || slots_used_.load(std::memory_order_relaxed) < prefetch_;
  }

  /// One non-blocking take into a free slot. `now` may lag real time by up to `lag` (a coarse
  /// clock reading); deadlines derived from it are pushed out by `lag`.
  bool try_receive_one(TimePoint now, Duration lag, Delivery& out) noexcept;
  /// Non-blocking takes into free slots, appended to `out`, at most `max`; how many.
  std::size_t try_receive_run(TimePoint now, Duration lag, std::vector<Delivery>& out,
                              std::size_t max) noexcept;
  /// Puts a taken entry into free slot `index` and returns its Delivery. `deadline_ns`: the
  /// visibility deadline (kept in the slot; INT64_MAX for none); `now`: when it was taken.
  /// `ages`: where the delivery's age is counted (null: the queue's recorder at once).
  Delivery install(std::uint32_t index, Entry&& entry, std::int64_t deadline_ns, TimePoint now,
                   std::shared_ptr<ConsumerState> self,
                   LatencyRecorder::Tally* ages = nullptr) noexcept;
  /// Hands the entry of slot `index`, whose settle CAS the caller just won, back to the queue
  /// as a visibility timeout (`why`) does: the slot is freed, the interceptors told.
  void take_back(std::uint32_t index, Redelivery why) noexcept;
  /// Tells the interceptors of a settlement (`on_ack`, `on_nack`, `on_reject`).
  void intercept_settle(Settle how, const Entry& entry, std::string_view why) noexcept;
  /// The visibility deadline of a delivery made at `now` (which may lag real time by `lag`).
  std::int64_t visibility_deadline(TimePoint now, Duration lag) noexcept;
  /// One idle step of a receive that found nothing at `now`: spin, yield or park on the ready
  /// event until `deadline` or the queue's next wake-up (sync/idle_wait.hpp).
  void wait_for_work(TimePoint now, TimePoint deadline, IdleWait& idle) noexcept;

  const std::shared_ptr<QueueState> queue_;
  const std::uint32_t prefetch_;
  const WaitStrategy wait_;
  const std::string tag_;
  const std::vector<std::shared_ptr<Interceptor>> interceptors_;
  // 2^32 slots at base 1 need chunks 0..32.
  static constexpr std::size_t kMaxChunks = 33;
  unsigned base_shift_ = 0;        // log2 of chunk 0's size
  std::uint32_t first_slots_ = 0;  // slots in chunk 0
  Slot* first_ = nullptr;          // chunk 0 (also chunks_[0]), created with the consumer
  std::atomic<Slot*> chunks_[kMaxChunks] = {};
  std::atomic<std::uint32_t> slots_used_{0};  // slots created; written under grow_mutex_
  Mutex grow_mutex_;
  SpillRing<std::uint32_t> free_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> interrupted_{false};
  std::shared_ptr<const void> owner_;  // see keep_owner
  alignas(kCacheLine) std::atomic<std::uint64_t> nacked_{0};
  // The readiness fd, made on first ask (sync/ready_fd.hpp). ready_fd_ is null until then, so
  // a receive that finds nothing pays one acquire load for it; it is published (release) under
  // ready_fd_mutex_ once attached, and never changes after.
  Mutex ready_fd_mutex_;
  std::unique_ptr<ReadyFd> ready_fd_owner_ GUARDED_BY(ready_fd_mutex_);
  std::atomic<ReadyFd*> ready_fd_{nullptr};
};

}  // namespace switchyard::detail
