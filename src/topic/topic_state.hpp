// src/topic/topic_state.hpp — the machinery behind a Topic, its consumer groups and
// their members, and its queue subscriptions (SNS-style fan-out).
//
// Data structures
// ---------------
//   TopicState
//     logs_          one PartitionLog per partition, fixed at declare time: a MemoryPartitionLog,
//                    or for a durable topic the DurablePartitionLog over `<storage dir>/p<N>`
//                    that the broker's storage context opened (see durable_partition_log.hpp).
//     checkpoint_    durable topics: every group's committed offsets, in `<storage dir>/offsets`
//                    (OffsetStore, opened by the storage context too), under checkpoint_mutex_. A
//                    commit writes the whole checkpoint durably before the new offsets are
//                    published to committed_[p].
//     next_keyless_  round-robin counter for keyless records (relaxed fetch_add: spread, not
//                    order, is all it promises).
//     appended_      CoalescingEventCount: "a log end moved, an assignment changed, or
//                    something closed". Every waiting member of every group parks on it. An
//                    append costs a fence and a load unless a member registered since the last
//                    notify: members that are awake (or already woken) cost no syscall.
//     groups_        group name → shared_ptr<GroupState>, under groups_mutex_ (shared_mutex).
//                    Groups live as long as the topic (their committed offsets are kept when
//                    every member has left, like Kafka's).
//     subscriptions_ an immutable vector of {queue, header filter}, replaced whole (copy on
//                    write) under subscriptions_mutex_; an append copies the shared_ptr under
//                    that mutex only when `has_subscriptions_` says there is one.
//
//   GroupState (one per group name)
//     mutex_         guards membership, the partition → owner table, and the ownership check
//                    of every commit.
//     members_       in join order; owner_[p] the member owning partition p (null: none);
//                    owner_epoch_[p] rises each time p changes hands, so a member whose view is
//                    stale cannot commit over the new owner's progress.
//     committed_[p]  atomics (written under mutex_, read lock-free by stats and lag).
//     missed_[p]     atomics: records of p retention removed before the group read them.
//     generation_    rises on every reassignment (release); members compare it (acquire) at
//                    each poll and resynchronise their view under mutex_ when it moved.
//
//   GroupConsumerState (the state behind one GroupConsumer; touched by one thread at a time)
//     owned_[p]      the epoch this member got p at (0: not owned), its position_[p] (next
//                    offset to read) and paused_[p]. Only the member's thread reads or writes
//                    these; rebalances write only GroupState.
//
// Threading story
// ---------------
//   * Producers append through TopicState::accept on any thread: choose the partition, append
//     (the log serialises appends per partition), notify appended_, then offer the message to
//     each matching subscribed queue (their own accept: their own overflow policy).
//   * Members poll on their own threads: resync if generation_ moved, then read owned,
//     unpaused partitions straight from the logs (no group lock), then park on appended_ with
//     the EventCount protocol (condition: an owned log end beyond the position, a gap, a
//     generation change, closed, or wakeup).
//   * Join and leave (any thread) run under GroupState::mutex_: reassign (sticky), bump
//     generation_, notify appended_. Revocation is immediate: the old owner learns at its next
//     poll, and its commits for the lost partitions fail with not_owner.
//   * Lock order: groups_mutex_ before GroupState::mutex_ before checkpoint_mutex_; no lock is
//     held while calling user callbacks or a subscribed queue's accept. A durable commit holds
//     its GroupState::mutex_ across the checkpoint's fsyncs, so that ownership check, write and
//     publication are one step (a rebalance of that group waits for it; other groups do not).
//   * Durability::batch sends: the log's completion may fire (on the flusher thread) before
//     `append` has returned the offset; the send's `DeferredCompletion`
//     (route/send_completion.hpp, as a durable queue's) calls the producer's `on_complete`
//     once both the offset and the sync's outcome are known.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "durable/offset_store.hpp"
#include "durable/partition_log.hpp"
#include "match/headers_match.hpp"
#include "route/destination.hpp"
#include "route/hooks.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/detail/cache_line.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/recovery.hpp"
#include "switchyard/topic.hpp"
#include "sync/coalescing_event_count.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"
#include "sync/mutex.hpp"
#include "topic/group_member.hpp"
#include "topic/topic_base.hpp"
#include "util/dedup_window.hpp"

namespace switchyard::detail {

/// The most partitions a topic may have (Kafka has no fixed limit; ours bounds the per-topic
/// arrays).
inline constexpr std::uint32_t kMaxPartitions = 65'536;

class QueueState;
class GroupState;
class GroupConsumerState;

/// What a durable topic keeps its data in, opened and recovered by the broker's storage context
/// (broker/storage_context.hpp). Empty for `Durability::memory`.
struct TopicStorage {
  /// One DurablePartitionLog per partition, in partition order.
  std::vector<std::unique_ptr<PartitionLog>> partitions;
  /// Every group's committed offsets.
  std::optional<OffsetStore> offsets;
  /// What opening found, one entry per partition.
  std::vector<StreamRecovery> recovery;
};

class TopicState final : public TopicBase, public std::enable_shared_from_this<TopicState> {
 public:
  /// A memory topic makes its partitions; a durable one (`options.durability != memory`) takes
  /// the opened `storage` (`options.partitions` partition logs and the offsets), and knows every
  /// group the offsets name.
  /// `hooks`: the broker's interceptors and log, run by its group members' polls.
  TopicState(std::string name, TopicOptions options, std::shared_ptr<Clock> clock,
             TopicStorage storage = {}, std::shared_ptr<const Hooks> hooks = Hooks::none());
  ~TopicState() override;

  [[nodiscard]] DestinationKind kind() const noexcept override { return DestinationKind::topic; }
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] const TopicOptions& options() const noexcept override { return options_; }
  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  [[nodiscard]] const Hooks& hooks() const noexcept { return *hooks_; }
  [[nodiscard]] std::uint32_t partitions() const noexcept override { return options_.partitions; }
  [[nodiscard]] PartitionLog& log(std::uint32_t partition) const noexcept {
    return *logs_[partition];
  }

  /// Appends to the partition `options.partition`, or the key's, or the next in turn; then
  /// fans out to subscribed queues. @note threadsafe
  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  /// Durable topics: `accept` with the record encoded straight from `fields` into the
  /// partition's log; nullopt while a queue is subscribed (it needs the Message).
  std::optional<Result<SendReceipt>> accept_fields(const MessageFields& fields,
                                                   const SendOptions& options) noexcept override;
  void close(bool drain) noexcept override;
  /// A topic holds a log, not a backlog: nothing to drain.
  [[nodiscard]] bool idle() const noexcept override { return true; }
  [[nodiscard]] bool closed_for_send() const noexcept override {
    return send_closed_.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool closed_for_receive() const noexcept {
    return receive_closed_.load(std::memory_order_acquire);
  }

  /// The group called `name`, created (its start resolved from `options`) if new.
  std::shared_ptr<GroupState> group(std::string_view name, const GroupConsumerOptions& options);
  /// Whether any group has a member. @note threadsafe
  [[nodiscard]] bool has_members() const;
  /// Whether any partition holds a record.
  [[nodiscard]] bool has_records() const noexcept;

  /// Adds (or confirms, when equal) the subscription of `queue`; throws option_mismatch when
  /// the queue is subscribed with another filter.
  void subscribe(std::shared_ptr<QueueState> queue, Headers filter);
  /// Throws unknown_destination when `queue` is not subscribed.
  void unsubscribe(std::string_view queue);
  /// Each subscribed queue with its filter as given, in subscription order (the broker's
  /// catalog keeps those of a durable topic to durable queues). @note threadsafe
  [[nodiscard]] std::vector<std::pair<std::shared_ptr<QueueState>, Headers>> subscriptions() const;

  [[nodiscard]] TopicStats stats() const override;
  /// What recovery found, one entry per partition (durable topics; empty in memory). Fixed at
  /// construction.
  [[nodiscard]] const std::vector<StreamRecovery>& recovery() const noexcept { return recovery_; }
  [[nodiscard]] std::optional<GroupStats> group_stats(std::string_view group) const override;

  CoalescingEventCount& appended_event() noexcept { return appended_; }

  [[nodiscard]] bool durable() const noexcept { return options_.durability != Durability::memory; }
  /// Durable topics: the offset `group` committed for `partition` before, if any.
  [[nodiscard]] std::optional<std::uint64_t> stored_offset(std::string_view group,
                                                           std::uint32_t partition) const;
  /// Durable topics: stores `offsets` (partition, next offset) of `group` in the checkpoint;
  /// returns once it is durable. `io_error` (nothing changed) or `closed` once the topic is
  /// closed for good (deleted, or its broker shut down: `close(false)`).
  /// Memory topics: nothing to do. Called under the group's mutex.
  Status store_commits(const std::string& group,
                       std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets) noexcept;
  /// Stop writing to its files (appends and commits fail with `closed`): run by `close(false)`,
  /// so that a deleted topic's directory can be removed and that handles outliving their broker
  /// leave a reopened broker's files alone.
  void retire_storage() noexcept;
  /// The message naming a partition out of range.
  [[nodiscard]] std::string partition_error(std::uint64_t partition) const;

  /// Compacted topics (`Cleanup::compact`, `compact_delete`): one compaction pass over every
  /// partition whose log end moved since its last pass, now, on the calling thread (the
  /// compactor thread runs the same every `kCompactionInterval`). Returns the records removed;
  /// the first partition's failure (the others are still compacted). 0 for other topics.
  /// @note threadsafe (passes of one partition are serialised by its log)
  Result<std::uint64_t> compact_now() noexcept;
  /// How often the compactor thread looks at the partitions (the broker clock's time).
  static constexpr std::chrono::milliseconds kCompactionInterval{1000};

 private:
  struct Subscription {
    std::shared_ptr<QueueState> queue;
    Headers arguments;    // the filter as given (a re-subscribe must give the same)
    HeaderFilter filter;  // parsed `arguments`
  };
  using Subscriptions = std::vector<Subscription>;

  void fan_out(const Message& message, const SendOptions& options) noexcept;
  /// The body of accept / accept_fields: picks the partition, calls
  /// `append(partition, done, dedup_until_ns) -> Result<offset>`, then wakes readers and fans
  /// `*fan_copy` out (if not null) to the subscribed queues.
  /// With a `dedup_id`, under dedup_mutex_: a duplicate within the window gets the first
  /// send's receipt and appends nothing; a durable log stores the id with the record, its
  /// window ending at `dedup_until_ns` (monotonic; 0 without a dedup id).
  template <class Append>
  Result<SendReceipt> append_record(MessageId id, std::size_t payload_size, std::string_view key,
                                    const SendOptions& options, const Message* fan_copy,
                                    Append&& append) noexcept;
  /// append_record's body, for a record that is not a duplicate.
  template <class Append>
  Result<SendReceipt> append_new(MessageId id, std::size_t payload_size, std::string_view key,
                                 const SendOptions& options, const Message* fan_copy,
                                 Append&& append, std::int64_t dedup_until_ns = 0) noexcept;
  /// A durable topic's dedup ids still within their window, read back from its partitions
  /// at construction (util/dedup_window.hpp). Throws Error (the read's code) or bad_alloc.
  void recover_dedup();

  const std::string name_;
  const TopicOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<const Hooks> hooks_;
  std::vector<std::unique_ptr<PartitionLog>> logs_;

  mutable Mutex checkpoint_mutex_;
  // Durable topics only.
  std::optional<OffsetStore> checkpoint_ GUARDED_BY(checkpoint_mutex_);
  std::vector<StreamRecovery> recovery_;  // durable topics only; fixed after construction
  bool storage_destroyed_ GUARDED_BY(checkpoint_mutex_) = false;

  // Read by every append and every poll, written almost never: a line of its own, so that
  // the writes below do not invalidate it.
  alignas(kCacheLine) std::atomic<bool> send_closed_{false};
  std::atomic<bool> receive_closed_{false};
  std::atomic<bool> has_subscriptions_{false};
  // Idempotent sends: the dedup ids seen within the window, and the first receipt of each.
  // Held across the append of a send with a dedup id (so a concurrent duplicate waits for the
  // first's receipt); taken by no other path. Lock order: before the partition logs' locks.
  Mutex dedup_mutex_;
  DedupWindow<SendReceipt> dedup_ GUARDED_BY(dedup_mutex_);
  std::atomic<std::uint64_t> deduplicated_{0};
  // Written by keyless appends to a multi-partition topic only.
  alignas(kCacheLine) std::atomic<std::uint64_t> next_keyless_{0};
  CoalescingEventCount appended_;  // (its own line)

  mutable SharedMutex groups_mutex_;
  std::map<std::string, std::shared_ptr<GroupState>, std::less<>> groups_ GUARDED_BY(groups_mutex_);

  mutable Mutex subscriptions_mutex_;
  std::shared_ptr<const Subscriptions> subscriptions_ GUARDED_BY(subscriptions_mutex_);

  alignas(kCacheLine) std::atomic<std::uint64_t> fanned_out_{0};
  std::atomic<std::uint64_t> fan_out_failed_{0};

  // Compaction (compacted topics only). The compactor thread is a broker thread on the
  // broker's clock (start_thread): it parks on compactor_wake_ until kCompactionInterval of
  // the clock's time has passed or the destructor sets compactor_stop_ (seq_cst, then notify),
  // so under a test's virtual time a pass runs when time passes its tick — and the tick, a
  // `BlockedWait::tick`, never moves time by itself nor hides a stuck flow.
  [[nodiscard]] bool compacted() const noexcept {
    return options_.cleanup != Cleanup::delete_records;
  }
  void run_compactor() noexcept;
  std::atomic<std::uint64_t> compactions_{0};  // relaxed: a counter
  EventCount compactor_wake_;
  std::atomic<bool> compactor_stop_{false};
  std::thread compactor_;
};

class GroupState {
 public:
  /// `start` places the partitions the group never committed (Kafka's auto.offset.reset).
  /// nullptr: a group restored from a durable topic's checkpoint, whose uncommitted partitions
  /// wait for the `start` of the first consumer that joins it (`resolve_start`).
  GroupState(TopicState& topic, std::string name, const GroupConsumerOptions* start);

  /// Places the partitions still waiting for a start position (only a restored group has
  /// any) by `start`. Called before each new member joins. @note threadsafe
  void resolve_start(const GroupConsumerOptions& start);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Adds / removes a member and reassigns. @note threadsafe
  void join(GroupConsumerState* member);
  void leave(GroupConsumerState* member) noexcept;

  /// Rises on every reassignment. Acquire pairs with the release in reassign.
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }
  struct Owned {
    std::uint32_t partition;
    std::uint64_t epoch;
    std::uint64_t committed;
  };
  /// What `member` owns now, and the generation this view is of.
  std::uint64_t assignment_of(const GroupConsumerState* member, std::vector<Owned>& out);
  struct CommitEntry {
    std::uint32_t partition;
    std::uint64_t epoch;   ///< the epoch the member got the partition at
    std::uint64_t offset;  ///< next offset to read
  };
  /// Commits each entry whose partition `member` still owns at its epoch, and appends the
  /// others' partitions to `lost`. A durable topic stores the changed offsets first (one
  /// checkpoint write); if that fails nothing is committed and the error is returned.
  /// @note threadsafe
  Status commit(const GroupConsumerState* member, std::span<const CommitEntry> entries,
                std::vector<std::uint32_t>& lost) noexcept;
  [[nodiscard]] std::uint64_t committed(std::uint32_t partition) const noexcept {
    // Acquire pairs with commit's release (a reader of the committed offset after a rebalance).
    return committed_[partition].load(std::memory_order_acquire);
  }
  void count_missed(std::uint32_t partition, std::uint64_t n) noexcept {
    missed_[partition].fetch_add(n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t member_count() const;
  [[nodiscard]] GroupStats stats() const;

 private:
  void reassign_locked() REQUIRES(mutex_);

  TopicState& topic_;
  const std::string name_;
  const std::uint32_t partitions_;
  mutable Mutex mutex_;
  std::vector<GroupConsumerState*> members_ GUARDED_BY(mutex_);
  std::vector<GroupConsumerState*> owner_ GUARDED_BY(mutex_);
  std::vector<std::uint64_t> owner_epoch_ GUARDED_BY(mutex_);
  std::uint64_t next_epoch_ GUARDED_BY(mutex_) = 1;
  std::unique_ptr<std::atomic<std::uint64_t>[]> committed_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> missed_;
  // Restored, never committed, no start applied yet.
  std::vector<bool> unplaced_ GUARDED_BY(mutex_);
  // Whether unplaced_ holds a true. Acquire pairs with resolve_start's release store.
  std::atomic<bool> any_unplaced_{false};
  std::atomic<std::uint64_t> generation_{0};
};

/// The state behind a GroupConsumer. One thread at a time, except `wakeup`.
class GroupConsumerState final : public GroupMember {
 public:
  GroupConsumerState(std::shared_ptr<TopicState> topic, std::shared_ptr<GroupState> group,
              GroupConsumerOptions options);
  ~GroupConsumerState() override;
  GroupConsumerState(const GroupConsumerState&) = delete;
  GroupConsumerState& operator=(const GroupConsumerState&) = delete;

  Result<PollBatch> poll(std::size_t max, Duration timeout) noexcept override;
  /// Clears `batch` (keeping its capacity) and fills it.
  Status poll(PollBatch& batch, std::size_t max, Duration timeout) noexcept override;
  Status commit() noexcept override;
  Status commit(std::uint32_t partition, std::uint64_t offset) noexcept override;
  Status seek(std::uint32_t partition, std::uint64_t offset) noexcept override;
  Status set_paused(std::uint32_t partition, bool paused) noexcept override;
  [[nodiscard]] std::vector<std::uint32_t> assignment() const override;
  [[nodiscard]] Result<std::uint64_t> position(std::uint32_t partition) const noexcept override;
  [[nodiscard]] Result<std::uint64_t> lag(std::uint32_t partition) const noexcept override;
  [[nodiscard]] Result<std::uint64_t> committed(std::uint32_t partition) const noexcept override;
  void wakeup() noexcept override;
  void close() noexcept override;
  /// The readiness fd (GroupConsumer::ready_fd), made and attached to the topic's append
  /// event on the first call. @note threadsafe
  Result<int> ready_fd() noexcept override;

  [[nodiscard]] const TopicState& topic() const noexcept { return *topic_; }
  [[nodiscard]] const GroupState& group() const noexcept { return *group_; }
  [[nodiscard]] const Clock& clock() const noexcept override { return *topic_->clock(); }
  [[nodiscard]] const std::string& topic_name() const noexcept override { return topic_->name(); }
  [[nodiscard]] const std::string& group_name() const noexcept override;

 private:
  Status check_partition(std::uint32_t partition) const;
  Status check_owned(std::uint32_t partition) const;
  /// Catches up with the group's assignment; runs the callbacks. Returns false if closed.
  void sync() noexcept;
  bool read_once(std::size_t max, TimePoint now, PollBatch& batch);
  [[nodiscard]] bool ready() const noexcept;
  /// The member or its topic is closed (the topic deleted, the broker stopped).
  [[nodiscard]] bool closed() const noexcept;
  /// The poll's steps: room for up to `max` records in `batch` (from the thread's spare); one
  /// sync and read (the poll's result, or nullopt: nothing yet); one idle step, by
  /// `options_.wait`, until records, a rebalance, a wakeup, closing or `deadline`.
  void reserve_records(PollBatch& batch, std::size_t max);
  std::optional<Status> poll_once(std::size_t max, TimePoint now, PollBatch& batch);
  void wait_for_records(TimePoint now, TimePoint deadline, IdleWait& idle) noexcept;
  /// An auto-commit (at poll or close), whose Status nobody sees: a failure is logged.
  void auto_commit() noexcept;

  const std::shared_ptr<TopicState> topic_;
  const std::shared_ptr<GroupState> group_;
  const GroupConsumerOptions options_;
  const std::uint32_t partitions_;
  std::uint64_t seen_generation_ = ~std::uint64_t{0};
  std::vector<std::uint64_t> owned_;  // epoch, 0: not owned
  std::vector<std::uint64_t> position_;
  std::vector<bool> paused_;
  std::vector<std::uint32_t> assignment_;  // owned partitions, ascending
  std::size_t next_first_ = 0;             // fairness: where the next read starts
  bool dirty_ = false;                     // positions moved since the last commit
  std::optional<Status> read_error_;       // a durable log could not read a record
  bool joined_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<bool> wakeup_{false};
  // The readiness fd, made on first ask (sync/ready_fd.hpp); published (release) under
  // ready_fd_mutex_ once attached, never changed after.
  Mutex ready_fd_mutex_;
  std::unique_ptr<ReadyFd> ready_fd_owner_ GUARDED_BY(ready_fd_mutex_);
  std::atomic<ReadyFd*> ready_fd_{nullptr};
};

}  // namespace switchyard::detail
