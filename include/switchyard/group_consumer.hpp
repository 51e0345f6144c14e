// switchyard/group_consumer.hpp — a member of a Kafka-style consumer group: polls records
// from the topic partitions it owns, commits offsets, seeks, pauses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/record.hpp"
#include "switchyard/wait_strategy.hpp"

namespace switchyard {

namespace detail {
class Access;
class GroupMember;
}  // namespace detail

/// Where a NEW group starts reading each partition. Resolved once, when the group gets its
/// first member; from then on the group's committed offsets say where it is (a later member's
/// `start` is ignored), so a partition moving between members never skips or rewinds past the
/// group's commits.
enum class Start : std::uint8_t {
  earliest,   ///< the oldest retained record
  latest,     ///< the log end: only records appended after the group was created
  offset,     ///< `GroupConsumerOptions::offset` in every partition (at most the log end; below
              ///< the oldest retained record, the first poll reports the gap as `Missed`)
  timestamp,  ///< the first record whose timestamp is at or after `GroupConsumerOptions::time`
              ///< (the log end if none)
};

struct GroupConsumerOptions {
  Start start = Start::latest;
  std::uint64_t offset = 0;  ///< for `Start::offset`
  Timestamp time{};          ///< for `Start::timestamp`
  /// Kafka's enable.auto.commit, with its semantics: each poll first commits what the previous
  /// polls returned (so a record is committed only once the code that polled it asked for
  /// more). Off by default: commit after processing with `commit()`.
  bool auto_commit = false;
  /// Called on the polling thread, inside `poll` (and never concurrently with it), with the
  /// partitions this member just got. Its position there is the group's committed offset.
  std::function<void(std::span<const std::uint32_t>)> on_assigned{};
  /// Called on the polling thread, inside `poll`, with the partitions this member lost to a
  /// rebalance. They already belong to another member: committing them fails (`not_owner`),
  /// and what this member read past the group's committed offset will be read again by the
  /// new owner.
  std::function<void(std::span<const std::uint32_t>)> on_revoked{};
  /// Called on the polling thread for each gap retention left (also in `PollBatch::missed()`).
  std::function<void(const Missed&)> on_missed{};
  /// How `poll` waits when no owned partition has records: as `ConsumerOptions::wait`. The
  /// default parks after a short spin and a few yields (an idle member uses no CPU).
  WaitStrategy wait = WaitStrategy::park;
};

/// What one poll returns: records in offset order within each partition (partitions one after
/// another), and the gaps retention left, which the member has stepped over. Check `missed()`
/// — or set `on_missed` — to learn of records that were never seen; `missed_count()` is also
/// in the group's stats.
///
/// Memory: a batch's record storage is not freed when the batch is destroyed but kept as its
/// thread's one spare (up to 4096 records' worth), and the next poll on that thread starts
/// from it — so a poll loop allocates nothing per poll once warm. `poll(batch, ...)` reuses a
/// batch the caller keeps instead.
class [[nodiscard]] SWITCHYARD_EXPORT PollBatch {
 public:
  using const_iterator = std::vector<Record>::const_iterator;
  using iterator = std::vector<Record>::iterator;

  PollBatch() noexcept = default;
  PollBatch(const PollBatch&) = default;
  PollBatch(PollBatch&&) noexcept = default;
  PollBatch& operator=(const PollBatch&) = default;
  PollBatch& operator=(PollBatch&&) noexcept = default;
  /// Releases the records; keeps their storage as this thread's spare (see above).
  ~PollBatch();

  /// Drops every record and gap, keeping the storage.
  void clear() noexcept {
    records_.clear();
    missed_.clear();
  }

  [[nodiscard]] iterator begin() noexcept { return records_.begin(); }
  [[nodiscard]] iterator end() noexcept { return records_.end(); }
  [[nodiscard]] const_iterator begin() const noexcept { return records_.begin(); }
  [[nodiscard]] const_iterator end() const noexcept { return records_.end(); }
  [[nodiscard]] std::size_t size() const noexcept { return records_.size(); }
  /// No records (there may still be `missed()` entries).
  [[nodiscard]] bool empty() const noexcept { return records_.empty(); }
  [[nodiscard]] const Record& operator[](std::size_t i) const noexcept { return records_[i]; }
  [[nodiscard]] const std::vector<Record>& records() const noexcept { return records_; }
  /// Gaps stepped over by this poll, one per partition at most.
  [[nodiscard]] const std::vector<Missed>& missed() const noexcept { return missed_; }
  /// Total records missed in this poll.
  [[nodiscard]] std::uint64_t missed_count() const noexcept {
    std::uint64_t n = 0;
    for (const auto& m : missed_) n += m.count;
    return n;
  }

 private:
  // The library's plumbing (a member fills the batch), reached only through detail::Access.
  friend class detail::Access;

  std::vector<Record> records_;
  std::vector<Missed> missed_;
};

/// One member of a consumer group of one topic (`Broker::group_consumer`).
///
/// Every group sees every record; within a group each partition is owned by one member at a
/// time. Members join (construction) and leave (`close` or destruction) at any time; the
/// partitions are then re-shared (sticky: a member keeps what it can) and each member learns
/// its new assignment at its next `poll` (`on_assigned` / `on_revoked`). A partition's new
/// owner starts at the group's committed offset, so nothing is lost and only what was read but
/// not committed is read again.
///
/// Thread-compatible, like KafkaConsumer: one thread at a time calls a member (different
/// members on different threads freely). `wakeup()` alone may be called from any thread.
/// Move-only. Deleting the topic or shutting the broker down makes polls return `closed`; the
/// member never refers to freed memory.
class SWITCHYARD_EXPORT GroupConsumer {
 public:
  GroupConsumer() = default;
  GroupConsumer(GroupConsumer&&) noexcept;
  GroupConsumer& operator=(GroupConsumer&&) noexcept;
  ~GroupConsumer();

  /// Long poll: returns as soon as any owned, unpaused partition has records (up to `max`,
  /// taken from the partitions in turn, fair across polls) or a gap to report, else after
  /// `timeout` with an empty batch — a timeout is not an error. `Errc::closed` after `close()`,
  /// after the topic was deleted, or after the broker stopped. With `auto_commit`, first commits
  /// what earlier polls returned. Waits on the broker's clock: a few microseconds of spinning
  /// and yielding (the next append is usually that close under load), then parked in the
  /// kernel until an append, a rebalance, `wakeup()` or the timeout.
  ///
  /// Only on a member that outlives the statement (`&`): a temporary member —
  /// `broker.group_consumer("t", "g").poll(10)` — leaves the group at the end of the
  /// statement, so what it read can never be committed and is read again by the next member.
  /// Those calls do not compile (the `&&` overloads are deleted); keep the member in a
  /// variable: `auto member = broker.group_consumer("t", "g"); auto batch = member.poll(10);`.
  [[nodiscard]] Result<PollBatch> poll(std::size_t max, Duration timeout = Duration{0}) & noexcept;
  Result<PollBatch> poll(std::size_t max,
                         Duration timeout = Duration{0}) && = delete;  // temporary: see above
  /// The same poll into a batch the caller keeps: clears `batch` (keeping its capacity) and
  /// fills it; returns what the other overload's failure would be (`closed`, `full` when out
  /// of memory with nothing read, a durable log's read error). For loops that want to reuse
  /// one batch explicitly.
  Status poll(PollBatch& batch, std::size_t max, Duration timeout = Duration{0}) & noexcept;
  Status poll(PollBatch& batch, std::size_t max,
              Duration timeout = Duration{0}) && = delete;  // temporary: see above

  /// Commits, for every partition this member owns, the position after the records polls have
  /// returned (Kafka's commitSync()). `not_owner`, naming them, if some of those partitions
  /// were taken by a rebalance since (the others are committed).
  Status commit() noexcept;
  /// Commits `offset` — the next offset to read, Kafka's convention — for `partition`.
  /// `out_of_range` for a partition that does not exist or an offset past the log end;
  /// `not_owner` for a partition this member does not own.
  Status commit(std::uint32_t partition, std::uint64_t offset) noexcept;
  /// The next poll reads `partition` from `offset` (≤ log end; below the oldest retained
  /// record, the poll reports the gap). `out_of_range` / `not_owner` as for `commit`.
  Status seek(std::uint32_t partition, std::uint64_t offset) noexcept;
  /// Stops / restarts returning records of an owned partition (a revoked partition forgets its
  /// pause). `out_of_range` / `not_owner` as for `commit`.
  Status pause(std::uint32_t partition) noexcept;
  Status resume(std::uint32_t partition) noexcept;

  /// The partitions this member owns, as of its last poll, ascending.
  [[nodiscard]] std::vector<std::uint32_t> assignment() const;
  /// Next offset a poll reads from an owned partition; `not_owner` / `out_of_range`.
  [[nodiscard]] Result<std::uint64_t> position(std::uint32_t partition) const noexcept;
  /// The group's lag on `partition`: log end − committed offset (any partition of the topic).
  [[nodiscard]] Result<std::uint64_t> lag(std::uint32_t partition) const noexcept;
  /// The group's committed offset on `partition` (any partition of the topic).
  [[nodiscard]] Result<std::uint64_t> committed(std::uint32_t partition) const noexcept;

  /// Makes a poll blocked in another thread return its (empty) batch now. @note threadsafe
  void wakeup() noexcept;
  /// Leaves the group (its partitions go to the other members). With `auto_commit`, commits
  /// first. Later polls return `closed`. Idempotent.
  void close() noexcept;

  /// A file descriptor for event loops (epoll, poll, libuv, Boost.Asio — see docs/async.md and
  /// switchyard/asio.hpp): readable when a `poll(max, 0s)` would not block with nothing — an
  /// owned partition has records or a gap, the assignment changed, `wakeup()` was called, or
  /// the member, its topic or the broker is closed. Level-triggered: it stays readable until
  /// a poll returns an empty batch; that poll clears it (never `read` it yourself). It may be
  /// readable when there is nothing (an append to a partition another member owns): the poll
  /// returns an empty batch, and clears it. So: when it is readable, poll with timeout 0 until
  /// the batch is empty, then wait again. A new fd is readable. Created on the first call (an
  /// eventfd; nobody pays for it before), valid until the member is destroyed (remove it from
  /// your loop first); `io_error` if the kernel refuses one. Linux only. @note threadsafe
  [[nodiscard]] Result<int> ready_fd() noexcept;
  /// How long an event loop may wait on `ready_fd()` before it polls anyway: the clock's
  /// `max_real_sleep()` (`Duration::max()` on the system clock; a manual clock moves without
  /// a notify). Real time.
  [[nodiscard]] Duration ready_timeout() const noexcept;
  /// The broker's clock, by which this member's timeouts run.
  [[nodiscard]] const Clock& clock() const noexcept;

  [[nodiscard]] const std::string& topic_name() const noexcept;
  [[nodiscard]] const std::string& group_name() const noexcept;
  explicit operator bool() const noexcept { return member_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit GroupConsumer(std::shared_ptr<detail::GroupMember> member) noexcept;

  // A member of a group of this process or of a transport's (src/topic/group_member.hpp).
  std::shared_ptr<detail::GroupMember> member_;
};

}  // namespace switchyard
