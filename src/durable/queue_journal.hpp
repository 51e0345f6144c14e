// src/durable/queue_journal.hpp — the durable state of one queue: its messages and what
// became of each one (delivered how often, acknowledged, dead-lettered, dropped).
//
// Directory layout
//   <dir>/messages/        a Log of message record bodies (StoredMessage); seq = log offset
//   <dir>/acks-<gen>/      a Log of settlement records (below); the highest complete <gen> wins
//
// Settlement record body (kSettlementSize = 16 bytes, little-endian)
//
//    0    1         4                   8
//    +----+---------+-------------------+
//    |kind| 0 0 0   |  attempts (u32)   |  0
//    +----+---------+-------------------+
//    |  seq (u64)                        |  8
//    +-----------------------------------+ 16
//
//   kind: 1 delivered(seq, attempts)   the message was handed out for the attempts-th time
//         2 acked(seq)                 3 dead_lettered(seq)      4 dropped(seq) (expired, ...)
//         Snapshot records (the head of every generation, written by compaction):
//         5 floor(seq)                 starts a snapshot: every seq below is settled
//         6 live(seq, attempts)        seq is not settled
//         7 horizon(seq)               every seq in [floor, horizon) not listed live is settled
//         8 snapshot_complete          the snapshot of this generation is whole
//
// State: `pending_` holds the unsettled seqs below `tracked_end_` with their attempt counts;
// every seq at or above `tracked_end_` is unsettled (appended, never settled). Memory and
// snapshot size are O(unsettled messages), however far a stuck message holds the floor back.
//
// Recovery: replay the newest generation whose snapshot is complete (a generation cut short by
// a crash during compaction is deleted), then read the message log from the floor: every
// message not settled comes back, in seq order, with its last recorded attempt count.
//
// Dedup ids (util/dedup_window.hpp has the whole design): a message sent with a dedup id
// carries it, and its window's end, in its own record (stored body version 3). SQS remembers
// the id for its whole window even once the message is deleted, so the message segments that
// hold such a record are not deleted with the settled floor until the window ends:
// `dedup_holds_` (seq -> the id, message id and window end, wall clock) is filled by `append`
// and, at open, by reading the message log from the first record stamped within the last
// window (`collect_stored_dedup`; a record's stamp is its send's wall time, its window's start); a
// settlement's segment deletion stops at the lowest seq still held (`hold_floor_locked`). The
// ids are in memory only as long as their windows (the DedupWindow holds as many). Disk: the
// segments of up to one window of traffic stay, settled or not (with no dedup ids: none).
//
// A first delivery's record (attempts 1) waits for no sync, at any durability
// (`append_deferred`): it would otherwise cost the consumer a sync of its own before the one
// its ack pays, two per message at `always`. The record is in the mapped page cache when
// `record_delivery` returns, so a crash of the process keeps it — which is what
// `max_deliveries` needs: a poison message that kills the process on every delivery still
// reaches its limit. It becomes durable with the settlement log's next sync (the next ack's at
// `always`, the flusher's within `sync_interval` at `batch`, a compaction's snapshot). A
// redelivery's record (attempts > 1: rare, after a nack, an expired lease or a restart) waits
// for its sync as the durability says. So after a power loss at `always` an attempt count may
// be one short (a first delivery not yet followed by a sync), at `batch` short by what the
// last `sync_interval` delivered: never a message lost or an ack undone (acks, dead letters
// and drops wait for their sync as the durability says).
//
// Compaction: once the settlement log outgrows max(`compact_bytes`, twice the last snapshot),
// a new generation is written — the snapshot records, then snapshot_complete — synced, and only
// then is the old generation deleted. Message segments wholly below the floor are deleted as
// the floor advances.
//
// Threads: all members are thread-safe. `append` does not take the journal's lock (the message
// SegmentLog serialises itself); settlements and compaction do.
//
// Retirement: once its queue is closed for good (the broker's shutdown, or a delete), `retire`
// makes every later record fail with `closed`. A consumer or delivery handle may outlive its
// broker; without this its ack would append into files that a broker reopened on the same data
// directory (or a new queue of the same name) has open too, at the old tail — over the new
// broker's records.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <vector>

#include "durable/stored_message.hpp"
#include "durable/unsettled_seqs.hpp"
#include "storage/segment_log.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

struct QueueJournalOptions {
  /// Options of both logs (durability, segment size, flusher, faults, clock, salvage). The
  /// owner's role is set per log: records for the messages, settlements for the acks.
  SegmentLogOptions log;
  /// Segment size of the settlement log (small: it is compacted away).
  std::uint64_t settlement_segment_bytes = 1ull << 20;
  /// Compact the settlement log once it holds this many bytes.
  std::uint64_t compact_bytes = 4ull << 20;
  /// The queue's dedup window: at open, only records stamped within the last window can hold
  /// an id still in it, so the read for them starts there (default: the whole log).
  std::int64_t dedup_window_ns = std::numeric_limits<std::int64_t>::max();
};

/// A message that was accepted and not settled before the restart.
struct RecoveredMessage {
  std::uint64_t seq = 0;
  std::uint32_t attempts = 0;  ///< deliveries recorded so far (0 = never delivered)
  StoredMessage message;
};

enum class Settlement : std::uint8_t {
  delivered = 1,
  acked = 2,
  dead_lettered = 3,
  dropped = 4,
  floor = 5,
  live = 6,
  horizon = 7,
  snapshot_complete = 8,
};

inline constexpr std::size_t kSettlementSize = 16;

class QueueJournal {
 public:
  /// Opens (creating if needed) and recovers the journal in `dir`.
  static Result<std::unique_ptr<QueueJournal>> open(const std::filesystem::path& dir,
                                                    QueueJournalOptions options);
  ~QueueJournal();

  /// Every accepted, unsettled message in seq order with its attempt count. Reads the message
  /// log; call it once after open (it reflects settlements made since, too).
  Result<std::vector<RecoveredMessage>> recover() const EXCLUDES(mutex_);
  /// The dedup ids of every stored message, settled or not, whose window has not ended by
  /// the clock's wall time now (`options.log.clock`; none: the system clock), in seq order.
  /// Settled messages' ids are as the file comment says. Throws std::bad_alloc.
  [[nodiscard]] std::vector<StoredDedup> recover_dedup() const EXCLUDES(mutex_);

  /// Stores a message (`append_stored`: encoded straight into the log); returns its seq.
  /// `done` as for SegmentLog::append. A message with a `dedup_id` is held on disk for its
  /// window (see the file comment); takes the journal's lock for that, only then.
  Result<std::uint64_t> append(const MessageFields& message, Completion done = {});
  /// The message with seq `seq` was handed out for the `attempts`-th time. A first delivery
  /// (attempts 1) never waits for a sync (see the file comment): it survives a process crash
  /// on return, a power loss once the settlement log's next sync has run.
  Status record_delivery(std::uint64_t seq, std::uint32_t attempts);
  /// The message is settled: it never comes back.
  Status record_ack(std::uint64_t seq, Completion done = {});
  Status record_dead_letter(std::uint64_t seq, Completion done = {});
  Status record_drop(std::uint64_t seq, Completion done = {});

  /// Every later append and record fails with `closed` (see the file comment); syncs and
  /// reads keep working. Idempotent. @note threadsafe
  void retire() noexcept { retired_.store(true, std::memory_order_release); }

  /// Syncs both logs.
  Status sync() EXCLUDES(mutex_);
  /// Rewrites the settlement log as a snapshot (done automatically past `compact_bytes`).
  Status compact() EXCLUDES(mutex_);

  /// Every seq below this is settled.
  [[nodiscard]] std::uint64_t floor() const EXCLUDES(mutex_);
  /// Seq the next append gets.
  [[nodiscard]] std::uint64_t end_seq() const noexcept { return messages_->end_offset(); }
  [[nodiscard]] const SegmentLog& messages() const noexcept { return *messages_; }
  [[nodiscard]] std::uint64_t settlement_bytes() const EXCLUDES(mutex_);
  [[nodiscard]] std::uint64_t compactions() const EXCLUDES(mutex_);
  /// Recovery of the message log.
  [[nodiscard]] const RecoveryStats& message_recovery() const noexcept {
    return messages_->recovery_stats();
  }
  /// Recovery of the settlement log generation that was replayed at open, plus the journal's
  /// own repairs (an incomplete generation discarded, settlements of lost messages forgotten)
  /// in its `events`. Fixed after open.
  [[nodiscard]] const RecoveryStats& settlement_recovery() const noexcept {
    return settlement_recovery_;
  }

 private:
  QueueJournal(std::filesystem::path dir, QueueJournalOptions options);
  Status open_settlements() EXCLUDES(mutex_);
  // `wait` false: the record does not wait for its sync (`append_deferred`; `done` unused).
  Status settle(Settlement kind, std::uint64_t seq, std::uint32_t attempts, Completion done,
                bool wait = true) EXCLUDES(mutex_);
  void apply_locked(Settlement kind, std::uint64_t seq, std::uint32_t attempts) REQUIRES(mutex_);
  void track_to_locked(std::uint64_t end) REQUIRES(mutex_);
  [[nodiscard]] std::uint64_t floor_locked() const noexcept REQUIRES(mutex_) {
    return pending_.empty() ? tracked_end_ : pending_.front_seq();
  }
  Status compact_locked() REQUIRES(mutex_);
  Result<std::unique_ptr<SegmentLog>> open_generation(std::uint64_t gen, bool fresh);
  [[nodiscard]] std::int64_t wall_now_ns() const noexcept;
  // Forgets the holds whose window ended; the lowest seq still held (UINT64_MAX: none).
  std::uint64_t hold_floor_locked(std::int64_t now_wall_ns) REQUIRES(mutex_);

  const std::filesystem::path dir_;
  const QueueJournalOptions options_;
  std::atomic<bool> retired_{false};  // release in retire, acquire before each write
  std::unique_ptr<SegmentLog> messages_;
  RecoveryStats settlement_recovery_;  // written by open_settlements only

  mutable Mutex mutex_;
  std::unique_ptr<SegmentLog> settlements_ GUARDED_BY(mutex_);
  std::uint64_t generation_ GUARDED_BY(mutex_) = 0;
  // Unsettled seq -> attempts, below tracked_end_.
  UnsettledSeqs pending_ GUARDED_BY(mutex_);
  // Seqs at or above are unsettled and not in pending_.
  std::uint64_t tracked_end_ GUARDED_BY(mutex_) = 0;
  // Settlement log size that triggers the next compaction, and its size now (counted here:
  // every settlement has the same footprint, so no settle asks the log, under its lock).
  std::uint64_t compact_at_ GUARDED_BY(mutex_) = 0;
  std::uint64_t settlement_bytes_ GUARDED_BY(mutex_) = 0;
  std::uint64_t compactions_ GUARDED_BY(mutex_) = 0;
  // Seq -> the dedup id its record carries, for the ids whose window may not have ended.
  std::map<std::uint64_t, StoredDedup> dedup_holds_ GUARDED_BY(mutex_);
  // The message log's segments below the floor go (truncate_prefix, under the log's lock, which
  // its appends take too) only when the floor has reached the first segment's end: the end
  // that the last truncation saw, while the log had `truncate_segments_` segments (a roll
  // makes a new boundary, so a changed count asks again). Relaxed: the pair comes from one
  // reading under the log's lock, and a stale pair only brings a truncation early, or a
  // settle later, never skips one for good.
  std::atomic<std::uint64_t> truncate_at_{0};
  std::atomic<std::size_t> truncate_segments_{0};
};

/// Encodes / decodes a settlement record body.
void encode_settlement(Settlement kind, std::uint64_t seq, std::uint32_t attempts,
                       std::byte (&out)[kSettlementSize]) noexcept;
struct DecodedSettlement {
  Settlement kind;
  std::uint64_t seq;
  std::uint32_t attempts;
};
Result<DecodedSettlement> decode_settlement(std::span<const std::byte> body);

}  // namespace switchyard::detail
