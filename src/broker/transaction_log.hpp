// src/broker/transaction_log.hpp — a broker's transaction log: the commit point of every
// transaction on a data directory, and how recovery applies what a crash interrupted.
// (Semantics for users: include/switchyard/transaction.hpp.)
//
// Directory: <data_dir>/transactions/ — one SegmentLog (framing, CRC-32C, torn-tail
// truncation: storage/segment_format.hpp; 1 MiB segments), made by the first commit. A commit
// record is appended and synced (concurrent commits share a sync); a done record is appended
// unsynced. Sealed segments before the oldest commit still being applied are deleted as
// transactions finish.
//
// Record body (little-endian; version 1)
//
//    0     1     2         4                     8
//    +-----+-----+---------+---------------------+
//    |kind | ver |  0  0   |  parts (u32)        |  0
//    +-----+-----+---------+---------------------+
//    |  transaction id (u64)                     |  8
//    +-------------------------------------------+ 16   then `parts` parts (commit only)
//
//   kind 1 commit: the transaction's parts follow; synced before any part is applied.
//   kind 2 done:   every part of that transaction was applied (no parts; not synced itself:
//                  a lost `done` only makes recovery apply the parts again, which is idempotent).
//
//   Part: u8 type, then by type (str = u16 length + bytes):
//     1 send    str destination, str dedup_id, u8 has_partition, u32 partition,
//               i64 delay_ns, i64 ttl_ns, u32 length + a StoredMessage body
//               (durable/stored_message.hpp: id, timestamp, priority, key, group, headers,
//               payload; its deadlines are 0 — delay and TTL count from the apply)
//     2 ack     str queue, u64 message id
//     3 offset  str topic, str group, u32 partition, u64 offset
//
// Recovery (`open`, then the storage context's opens, then `finish`):
//   1. `open` reads the whole log: commit records without a done are pending.
//   2. As each durable queue's journal opens (`recover_queue`, before the queue replays it): each
//      pending ack of that queue whose message is still unsettled is recorded as acked; the
//      message ids in its message log are noted (a send that was applied).
//   3. As each durable topic opens (`recover_topic`): pending offsets of it are written to its
//      offset checkpoint (unless the group committed that offset or a later one since); the ids
//      in its partitions are noted.
//   4. `finish` (after the catalog re-declared everything): each pending send whose id was
//      noted nowhere is sent again with that id (through an exchange it is routed again); then
//      a done record for each pending transaction, one sync, and the log's sealed segments wholly
//      before the oldest open transaction are deleted.
//   A send whose message was applied, consumed, acked and whose segment was then deleted, all
//   before the crash interrupted its commit, would be sent again: a queue deletes a segment
//   only once everything in it is settled, a whole segment (64 MiB by default) later.
//
// Threads: `write_commit`, `write_done` and `next_id` are thread-safe: an append and the
// in-flight table change together under `mutex_` (the sync runs outside it); ids are an
// atomic counter. The recovery members run on the broker's constructor thread, before any
// transaction begins, under `mutex_` too.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "durable/stored_message.hpp"
#include "storage/segment_log.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/send_options.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

class QueueJournal;
class Registry;
struct TopicStorage;

namespace transaction_record {
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 16;
enum Kind : std::uint8_t { commit = 1, done = 2 };
enum Part : std::uint8_t { send = 1, ack = 2, offset = 3 };
}  // namespace transaction_record

/// One part of a transaction as the log holds it.
struct LoggedSend {
  std::string destination;
  std::string dedup_id;
  std::optional<std::uint32_t> partition;
  std::int64_t delay_ns = 0;
  std::int64_t ttl_ns = 0;
  StoredMessage message;  ///< id, timestamp, priority, key, group, headers, payload
  friend bool operator==(const LoggedSend&, const LoggedSend&) = default;
};
struct LoggedAck {
  std::string queue;
  std::uint64_t message_id = 0;
  friend bool operator==(const LoggedAck&, const LoggedAck&) = default;
};
struct LoggedOffset {
  std::string topic;
  std::string group;
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  friend bool operator==(const LoggedOffset&, const LoggedOffset&) = default;
};
struct LoggedTransaction {
  std::uint64_t id = 0;
  std::vector<LoggedSend> sends;
  std::vector<LoggedAck> acks;
  std::vector<LoggedOffset> offsets;
  friend bool operator==(const LoggedTransaction&, const LoggedTransaction&) = default;
};

/// The commit record of `tx`. Throws std::bad_alloc.
std::vector<std::byte> encode_commit(const LoggedTransaction& tx);
/// The done record of transaction `id`.
std::vector<std::byte> encode_done(std::uint64_t id);
/// A decoded record: kind, and for a commit its parts. Never reads out of bounds; a bad kind,
/// version, part type or length is `corrupt` naming the byte offset in the body.
struct DecodedTransactionRecord {
  transaction_record::Kind kind = transaction_record::commit;
  LoggedTransaction tx;
};
Result<DecodedTransactionRecord> decode_transaction_record(std::span<const std::byte> body);

class TransactionLog {
 public:
  /// Opens (creating) `<data_dir>/transactions` and reads it. Throws `Error` naming the file
  /// (`corrupt`, `io_error`, ...).
  static std::unique_ptr<TransactionLog> open(const std::filesystem::path& data_dir,
                                              SegmentLogOptions options);

  /// A new transaction's id (above every id in the log). @note threadsafe
  std::uint64_t next_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  /// The commit point: appends `tx`'s commit record and syncs it. @note threadsafe
  Status write_commit(const LoggedTransaction& tx) noexcept;
  /// Appends the done record of `id` (unsynced). @note threadsafe
  Status write_done(std::uint64_t id) noexcept;

  // --- recovery (the broker's constructor thread) ------------------------------------
  /// How many committed transactions were not done at open (0 on a clean directory).
  [[nodiscard]] std::size_t pending() const EXCLUDES(mutex_);
  /// Step 2 of recovery for queue `name` (see the file comment). Failure: the journal's.
  Status recover_queue(std::string_view name, QueueJournal& journal) EXCLUDES(mutex_);
  /// Step 3 for topic `name`.
  Status recover_topic(std::string_view name, TopicStorage& storage) EXCLUDES(mutex_);
  /// The sends of pending transactions that no durable destination holds, in log order.
  [[nodiscard]] std::vector<LoggedSend> unapplied_sends() const EXCLUDES(mutex_);
  /// Step 4's end: done records for every pending transaction, synced; old segments deleted.
  Status finish() EXCLUDES(mutex_);

 private:
  TransactionLog(std::filesystem::path dir, SegmentLogOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}
  /// Opens (creating) the segment log, once.
  Status open_log_locked() REQUIRES(mutex_);
  Status append_done_locked(std::uint64_t id) REQUIRES(mutex_);
  /// Notes which of the pending sends' ids `log` (of stored messages) holds.
  Status note_ids(const SegmentLog& log) REQUIRES(mutex_);

  const std::filesystem::path dir_;
  const SegmentLogOptions options_;
  std::atomic<std::uint64_t> next_id_{1};

  mutable Mutex mutex_;
  // Null until the directory exists: opened at open if it does, else by the first commit (a
  // data directory no transaction used has no transaction log). Never reset once set.
  std::unique_ptr<SegmentLog> log_ GUARDED_BY(mutex_);
  // Pending transactions (committed, not done) by id, from open until finish.
  std::map<std::uint64_t, LoggedTransaction> pending_ GUARDED_BY(mutex_);
  // Their sends' ids not yet found in any durable destination.
  std::set<std::uint64_t> unfound_ GUARDED_BY(mutex_);
  // Transactions past their commit point and not done: id -> offset of the commit record
  // (segments from the oldest on are kept).
  std::map<std::uint64_t, std::uint64_t> in_flight_ GUARDED_BY(mutex_);
};

/// Step 4 of recovery, run by the broker's constructor after its catalog is loaded: sends
/// `log`'s unapplied sends again through `registry` (same ids), then `log.finish()`. Throws
/// `Error` when the log cannot be written (broker/transaction.cpp).
void finish_transaction_recovery(const std::shared_ptr<Registry>& registry, TransactionLog& log);

}  // namespace switchyard::detail
