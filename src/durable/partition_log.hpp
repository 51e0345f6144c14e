// src/durable/partition_log.hpp — one topic partition's log: the storage interface a
// topic talks to, and the in-memory implementation.
//
// The interface (PartitionLog) is what both implementations provide — MemoryPartitionLog
// (memory_partition_log.cpp) and DurablePartitionLog (durable_partition_log.hpp, over a
// SegmentLog): append, read a batch from an offset, the two ends, retention, time look-up,
// stats.
//
// MemoryPartitionLog data structures
// -------------------------
//   Chunk       a fixed array of `capacity` slots {Message, record time, size} for offsets
//               [base, base + count). Slots are written once, by the appender, and never
//               changed again until the chunk is destroyed — so a reader that holds a chunk
//               reads its slots with no lock. A chunk is *sealed* (no more appends) when it is
//               full or holds a quarter of the byte limit; the next append starts a new one.
//   chunks_     the directory: a deque of shared_ptr<Chunk>, oldest first, contiguous offsets.
//               Guarded by directory_mutex_ (a shared_mutex): the appender takes it exclusive
//               only to add a chunk or drop the oldest (once per chunk, not per record); a
//               reader takes it shared for one binary search and one shared_ptr copy per chunk
//               it visits, then reads that chunk's slots with no lock at all. The shared_ptr
//               pins the chunk: retention may drop it from the directory while a reader is in
//               it; it is freed when the last reader lets go. Readers never keep a pin between
//               polls, so a stalled consumer holds no memory.
//   start_offset_ / end_offset_   atomics: the oldest retained offset and the log end.
//               Retention is logical per record (start_offset_ moves record by record, so the
//               limits are exact); storage is freed a whole chunk at a time, once every record
//               of the chunk is below start_offset_.
//
// Threading story
// ---------------
//   * Appends (any producer thread) are serialised by append_mutex_: write the slot, (when the
//     chunk is full, release-store its sealed_count), then release-store end_offset_. A reader
//     that acquire-loads end_offset_ sees every slot below it written, and the seal of every
//     chunk that ends below it.
//   * Retention runs under append_mutex_ (after each append for records/bytes; for age, when a
//     reader or stats notices the oldest record's deadline passed — `next_expiry_ns_` is the
//     lock-free hint). It release-stores start_offset_ and then drops chunks.
//   * Reads (any number of group members at once) never take append_mutex_: they read
//     start_offset_ (acquire) to report a gap, then copy Messages out of pinned chunks. A copy
//     is a reference-count increment on the shared message body; the payload is never copied.
//   * Lock order: append_mutex_ before directory_mutex_. Readers take only directory_mutex_.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "storage/segment_log.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/detail/cache_line.hpp"
#include "switchyard/error.hpp"
#include "switchyard/message.hpp"
#include "switchyard/record.hpp"
#include "switchyard/topic.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

/// The storage of one partition. Every member is threadsafe.
class PartitionLog {
 public:
  PartitionLog() = default;
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;
  virtual ~PartitionLog() = default;

  /// Appends `message` at the log end; returns its offset. `now_ns` (monotonic) is the
  /// record's time for retention by age (a memory log: the message's send stamp, raised to the
  /// previous record's time if below it). Applies retention by records and bytes (and age, as
  /// of `now_ns`). `done` (optional) is called exactly once if
  /// the append succeeds, when the record reached the log's durability level — possibly
  /// before `append` returns, possibly later on another thread (a durable log at
  /// `Durability::batch`: the flusher, after the group sync; with the sync's error if it
  /// failed). Not called when the append fails. A memory log fails only when memory runs out;
  /// a durable one also with `io_error`, `disk_full`, `payload_too_large`, `wrong_type`.
  virtual Result<std::uint64_t> append(Message&& message, std::int64_t now_ns,
                                       Completion done) noexcept = 0;

  struct Read {
    std::uint64_t next = 0;    ///< offset after the last record read (or the skipped gap)
    std::uint64_t missed = 0;  ///< records between `from` and the oldest retained one
    /// A durable log that could not read or decode the record at `next` (`corrupt`,
    /// `io_error`): the records before it are in `out`; the caller reports the error.
    Status status{};
  };
  /// Appends to `out` up to `max` records from `from` on (fewer at the log end). If `from` is
  /// below the oldest retained record, reads from there and says how many were skipped.
  /// May throw std::bad_alloc (growing `out`).
  virtual Read read(std::uint64_t from, std::size_t max, std::vector<Record>& out) const = 0;

  /// Oldest retained offset (acquire: records from it on are readable).
  [[nodiscard]] virtual std::uint64_t start_offset() const noexcept = 0;
  /// The log end: the offset the next append gets (acquire: records below it are readable).
  [[nodiscard]] virtual std::uint64_t end_offset() const noexcept = 0;
  /// Drops records older than the age limit as of `now_ns`; cheap when none is due.
  virtual void expire(std::int64_t now_ns) noexcept = 0;
  /// The first retained offset whose record's timestamp is at or after `time`; the log end if
  /// none (Kafka's offsetsForTimes).
  [[nodiscard]] virtual std::uint64_t offset_for_time(Timestamp time) const = 0;
  [[nodiscard]] virtual PartitionStats stats() const = 0;

  /// One pass of log compaction (topics with `Cleanup::compact`; see switchyard/topic.hpp):
  /// over sealed storage, removes every record whose key has a later record in the log, and
  /// every tombstone (`is_tombstone`) appended `delete_retention_ns` or longer before `now_ns`
  /// (monotonic; a durable log reads its clock's wall time instead, as its record times are
  /// wall times). Offsets never change; reads step over the holes. Returns the records removed.
  /// Failures: `out_of_memory`; a durable log also `io_error`, `disk_full`, `corrupt` (the
  /// log is as before the pass). @note threadsafe; one pass at a time per log.
  virtual Result<std::uint64_t> compact(std::int64_t now_ns,
                                        std::int64_t delete_retention_ns) noexcept = 0;
};

/// True if a record with this payload size and these headers is a tombstone of its key: an
/// empty payload marked with `kTombstoneHeader`.
template <class HeaderList>
bool is_tombstone(std::size_t payload_size, const HeaderList& headers) noexcept {
  if (payload_size != 0) return false;
  for (const auto& header : headers) {
    if (std::string_view(header.first) == kTombstoneHeader) return true;
  }
  return false;
}

/// The in-memory log (see the file comment).
class MemoryPartitionLog final : public PartitionLog {
 public:
  MemoryPartitionLog(std::uint32_t partition, Retention retention);
  ~MemoryPartitionLog() override;

  Result<std::uint64_t> append(Message&& message, std::int64_t now_ns,
                               Completion done) noexcept override;
  Read read(std::uint64_t from, std::size_t max, std::vector<Record>& out) const override;
  [[nodiscard]] std::uint64_t start_offset() const noexcept override {
    // Acquire pairs with retention's release: the chunk directory reflects the new start.
    return start_offset_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t end_offset() const noexcept override {
    // Acquire pairs with append's release: every slot below it is written.
    return end_offset_.load(std::memory_order_acquire);
  }
  void expire(std::int64_t now_ns) noexcept override;
  [[nodiscard]] std::uint64_t offset_for_time(Timestamp time) const override;
  [[nodiscard]] PartitionStats stats() const override;
  /// Holds the append lock for the pass (appends to this partition wait; reads do not).
  Result<std::uint64_t> compact(std::int64_t now_ns,
                                std::int64_t delete_retention_ns) noexcept override;

  /// Records per chunk for these limits (a quarter of the record limit, 1 to 1024).
  static std::uint32_t chunk_capacity(const Retention& retention) noexcept;

 private:
  struct Slot {
    Message message;
    std::int64_t appended_ns = 0;  // monotonic
    std::uint32_t bytes = 0;       // key + payload
  };
  struct Chunk {
    Chunk(std::uint64_t base_offset, std::uint32_t slots)
        : base(base_offset), capacity(slots), slot(new Slot[slots]) {}
    // Read-only after construction. Aligned so that the shared_ptr control block in front of
    // it (which every reader's pin writes) is not on the appender's lines.
    alignas(kCacheLine) const std::uint64_t base;
    const std::uint32_t capacity;
    std::unique_ptr<Slot[]> slot;
    // The number of records, stored once when the chunk is sealed (0: still open; a sealed
    // chunk holds at least one). Readers bound an open chunk by end_offset_ instead, so an
    // append writes no line of the chunk but its slot.
    alignas(kCacheLine) std::atomic<std::uint32_t> sealed_count{0};
    // A chunk compaction built (sealed from birth; written before it enters the directory,
    // read-only after): slot i holds the record at offsets[i] (ascending, holes between);
    // the chunk covers [base, cover_end).
    bool compacted = false;
    std::vector<std::uint64_t> offsets;
    std::uint64_t cover_end = 0;
  };

  /// The chunk holding `offset`, pinned; null if it has left the directory.
  std::shared_ptr<const Chunk> find_chunk(std::uint64_t offset) const;
  /// Advances start_offset_ while a limit is broken, frees dead chunks.
  void retain_locked(std::int64_t now_ns) noexcept REQUIRES(append_mutex_);
  /// Reads chunks_ without directory_mutex_: every writer of chunks_ holds append_mutex_ as
  /// well, so the appender's own reads need no directory lock. The analysis has no "written
  /// under both, read under either", hence the exemption.
  /// The record at `offset`, or null in a hole compaction left.
  const Slot* slot_locked(std::uint64_t offset) const noexcept
      REQUIRES(append_mutex_) NO_THREAD_SAFETY_ANALYSIS;
  /// The first offset at or after `offset` that holds a record (end_offset_ if none).
  std::uint64_t next_present_locked(std::uint64_t offset) const noexcept
      REQUIRES(append_mutex_) NO_THREAD_SAFETY_ANALYSIS;
  /// One past the last offset `chunk` covers.
  std::uint64_t chunk_end_locked(const Chunk& chunk) const noexcept REQUIRES(append_mutex_);

  const std::uint32_t partition_;
  const Retention retention_;
  const std::uint32_t chunk_capacity_;
  const std::uint64_t chunk_bytes_;  // seal a chunk at this many bytes

  // Appender state (append_mutex_), on lines no reader writes.
  alignas(kCacheLine) mutable Mutex append_mutex_;
  Chunk* tail_ GUARDED_BY(append_mutex_) = nullptr;
  std::uint32_t tail_count_ GUARDED_BY(append_mutex_) = 0;  // records in tail_
  std::uint64_t tail_bytes_ GUARDED_BY(append_mutex_) = 0;  // their key + payload bytes
  bool tail_sealed_ GUARDED_BY(append_mutex_) = false;
  std::uint64_t retained_bytes_ GUARDED_BY(append_mutex_) = 0;
  std::uint64_t appended_bytes_ GUARDED_BY(append_mutex_) = 0;
  std::uint64_t retained_records_ GUARDED_BY(append_mutex_) = 0;  // present, not holes
  std::uint64_t compacted_away_ GUARDED_BY(append_mutex_) = 0;
  // The newest record's time (monotonic ns).
  std::int64_t last_appended_ns_ GUARDED_BY(append_mutex_) = INT64_MIN;

  // Readers lock it shared on every read: apart from the appender's per-record state.
  alignas(kCacheLine) mutable SharedMutex directory_mutex_;
  std::deque<std::shared_ptr<Chunk>> chunks_ GUARDED_BY(directory_mutex_);

  // Reader-visible ends, on their own line (readers poll them; the appender writes them).
  alignas(kCacheLine) std::atomic<std::uint64_t> end_offset_{0};
  std::atomic<std::uint64_t> start_offset_{0};
  // When the oldest retained record passes the age limit (monotonic ns); INT64_MAX: never.
  // Relaxed: a hint; the decision is re-made under append_mutex_.
  std::atomic<std::int64_t> next_expiry_ns_{INT64_MAX};
};

}  // namespace switchyard::detail
