// src/storage/segment_log.hpp — one durable stream (a queue, or a topic partition): a directory
// of append-only, memory-mapped segment files. Byte layout: segment_format.hpp.
//
// Mapping policy (bounded memory, bounded descriptors)
//   * The active segment (the last one) is mapped read-write over its whole `segment_bytes`
//     (address space only); appends are memcpy into that mapping, always below `reserved`, the
//     part of the file already fallocated. No byte is ever written past `reserved`, so a full
//     disk is an error (`Errc::disk_full`) from the append that needed the space, never a SIGBUS
//     in the middle of a copy (pages past the end of the file are mapped but never touched).
//   * Reservation (`SegmentLogOptions::preallocate`): `false` (grow) fallocates a first extent
//     (`first_extent(segment_bytes)`: a sixteenth, 4 KiB to 64 KiB) when the segment is created
//     and doubles `reserved` — posix_fallocate of the file's next part, under the append lock —
//     each time an append finds it full, up to `segment_bytes`; the file's size is its reserved
//     size. `true` fallocates all of `segment_bytes` at creation. A failed reservation writes
//     nothing: that append fails with `disk_full` and the next one tries again. The mapping does
//     not move when the file grows, so a `ReadBatch`'s views stay valid. Recovery reads a
//     segment of any size (what the file holds is what is scanned); reopening makes the last
//     segment's capacity max(segment_bytes, its file size), so segments written with another
//     `segment_bytes` or policy read and append as before.
//   * Sealed segments are mapped read-only on demand, kept in an LRU of at most
//     `max_read_mappings`, and unmapped when evicted. No file descriptor stays open: each is
//     closed right after mmap. Thousands of segments hold at most max_read_mappings + 1
//     mappings, plus whatever a caller pins through a live `ReadBatch`.
//   * A `ReadBatch` holds shared ownership of every mapping its views point into, so its views
//     stay valid for the batch's lifetime, across eviction, retention and truncation (an unlinked
//     file stays readable while mapped).
//
// Durability (see switchyard/durability.hpp for what each level survives)
//   * none:   `append` returns once the record is in the mapping. Completions fire at once.
//   * batch:  a `Flusher` thread syncs when `sync_bytes` are unsynced or the oldest unsynced
//             record is `sync_interval` old; completions fire after the sync that covers them.
//   * always: `append` syncs before it returns (concurrent appenders share one sync).
//   `append_deferred` waits at no level: its record rides along with the log's next sync.
//   A failed sync makes the log read-only for good: that append, every later append and every
//   pending completion get `Errc::io_error` (never retry-and-ack).
//
// Threads: every member may be called from any thread. Appends serialise on one mutex (held for
// a memcpy, never for a sync, except when rolling a batch/always segment: its last dirty bytes
// are synced before the next segment is created). Reads take that mutex only to find and pin
// a mapping, then parse without it.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "storage/file.hpp"
#include "storage/segment_format.hpp"
#include "storage/storage_counters.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/durability.hpp"
#include "switchyard/error.hpp"
#include "switchyard/recovery.hpp"
#include "switchyard/storage_options.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

class SegmentLog;

/// Called once per append (batch durability: when the record is synced, or failed). The one
/// completion type of every log built on this one (`QueueJournal`, `PartitionLog`). Runs on the
/// thread that completed the sync (the flusher, or an appender); must not block for long and must
/// not call back into the same log's `sync`.
using Completion = std::function<void(Status)>;

class BodyWriter;

/// What a `BodyWriter` can refer to: a callable `void(std::span<std::byte>) noexcept`.
template <class F>
concept BodyWriterTarget = !std::same_as<std::remove_cvref_t<F>, BodyWriter> &&
                           std::is_nothrow_invocable_v<F&, std::span<std::byte>>;

/// Writes a record's body in place, straight into the active segment's mapping (see
/// `SegmentLog::append_in_place`). A non-owning reference to a callable that must outlive the call it
/// is passed to (like `std::span`, copying it copies the reference); no allocation.
class BodyWriter {
 public:
  template <BodyWriterTarget F>
  BodyWriter(F& f) noexcept  // NOLINT(google-explicit-constructor): a reference, like a span
      : target_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* target, std::span<std::byte> out) noexcept {
          (*static_cast<F*>(target))(out);
        }) {}

  void operator()(std::span<std::byte> out) const noexcept { call_(target_, out); }

 private:
  void* target_;
  void (*call_)(void*, std::span<std::byte>) noexcept;
};

/// One background thread that performs group commits for any number of logs with batch
/// durability, syncing them one after another, each at its own interval. The broker gives each
/// batch destination one, shared by its logs (broker/storage_context.hpp says why not one per
/// broker); a log without one gets a private instance.
class Flusher {
 public:
  Flusher();
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  /// Register / deregister a log. `remove` waits until a sync of that log in progress ends.
  void add(SegmentLog* log) EXCLUDES(mutex_);
  void remove(SegmentLog* log) EXCLUDES(mutex_);
  /// Asks the thread to look at its logs now (an append crossed `sync_bytes`).
  void wake() noexcept EXCLUDES(mutex_);

 private:
  void run() EXCLUDES(mutex_);
  Mutex mutex_;
  CondVar cv_;
  std::vector<SegmentLog*> logs_ GUARDED_BY(mutex_);
  // The log whose sync runs outside the mutex right now.
  SegmentLog* syncing_ GUARDED_BY(mutex_) = nullptr;
  bool woken_ GUARDED_BY(mutex_) = false;
  bool stop_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

struct SegmentLogOptions {
  /// Most bytes of a segment file; a record that does not fit rolls to a new one.
  std::uint64_t segment_bytes = 64ull << 20;
  /// Reserve all of `segment_bytes` when a segment is created (true), or a first extent that
  /// doubles as the segment fills (false). See "Mapping policy" above.
  bool preallocate = false;
  Durability durability = Durability::none;
  /// batch: sync at least this often while records are unsynced (real time, not `clock`).
  std::chrono::nanoseconds sync_interval = std::chrono::milliseconds(5);
  /// batch: sync as soon as this many bytes are unsynced.
  std::uint64_t sync_bytes = 1ull << 20;
  /// Sealed segments kept mapped for reading (LRU).
  std::size_t max_read_mappings = 8;
  /// Recovery: skip damaged records (counted) instead of failing with `Errc::corrupt`.
  bool salvage = false;
  /// Offset of the first record of a new, empty log.
  std::uint64_t first_offset = 0;
  /// Whose stream this is: written into every new segment's header, and checked against every
  /// version 2 segment at open (a mismatch is `Errc::corrupt`, salvage or not).
  StorageOwner owner;
  /// batch: the flusher to register with (null: the log starts its own thread).
  std::shared_ptr<Flusher> flusher;
  /// Wall clock for segment creation stamps and retention by age.
  std::shared_ptr<const Clock> clock;
  /// Called once, with the failure, when a failed sync turns the log read-only (on the thread
  /// that found it, after the log's lock is released): the broker logs it.
  Completion on_failure;
  /// Test hook: injected failures of this log's storage calls (null: the installed injector).
  FaultInjector* faults = nullptr;
  /// Where this log counts its appends, syncs, segments and recovery (the broker's storage
  /// counters, shared by all its logs); null: nothing is counted.
  std::shared_ptr<StorageCounters> counters;
};

/// Space a new segment of a growing log (`preallocate` false) reserves first:
/// segment_bytes / 16, within 4 KiB to 64 KiB, never more than the segment.
[[nodiscard]] std::uint64_t first_extent(std::uint64_t segment_bytes) noexcept;

/// The first of `options`' fields outside its limits (switchyard/storage_options.hpp), as
/// `Errc::invalid_argument` naming the option and its value; success when all are in range.
[[nodiscard]] Status check_storage_options(const StorageOptions& options);

/// Sets in `log` the fields `options` sets (nonzero): segment size, preallocation, and the
/// group commit's `sync_interval` / `sync_bytes`. `options` must have passed
/// `check_storage_options`.
void apply_storage_options(const StorageOptions& options, SegmentLogOptions& log) noexcept;

/// What `SegmentLog::open` found and did.
struct RecoveryStats {
  std::uint64_t segments = 0;                 ///< segment files in use after recovery
  std::uint64_t records = 0;                  ///< valid records found
  std::uint64_t bytes = 0;                    ///< bytes of valid records (headers and padding too)
  std::uint64_t truncated_bytes = 0;          ///< torn tail bytes zeroed in the last segment
  std::uint64_t removed_segments = 0;         ///< half-created last segments removed
  std::uint64_t corrupt_regions_skipped = 0;  ///< salvage: damaged regions skipped
  std::uint64_t corrupt_bytes_skipped = 0;    ///< salvage: bytes in those regions
  std::chrono::nanoseconds elapsed{0};
  std::vector<std::string> events;  ///< one line per truncation / skip, naming file and offset
};

/// Adds what one log's recovery found to a stream's public report (counts, elapsed, events).
void add_recovery(StreamRecovery& into, const RecoveryStats& stats);

/// Retention for topics: whole sealed segments are deleted, oldest first, while the log breaks
/// a limit and the rest still meets it. 0 = no limit. The active segment is never deleted.
struct RetentionPolicy {
  std::uint64_t max_records = 0;
  std::uint64_t max_bytes = 0;
  std::chrono::nanoseconds max_age{0};  ///< a segment goes when its newest record is older
};

/// Decides, for one record of a sealed segment, whether `SegmentLog::compact` keeps it. Called
/// without the log's lock, on the compacting thread; must not call into the log.
using KeepRecord = std::function<bool(const RecordView&)>;

/// What one `SegmentLog::compact` pass did.
struct CompactionStats {
  std::size_t segments_rewritten = 0;  ///< sealed segments replaced
  std::size_t segments_written = 0;    ///< compacted segments that replaced them
  std::uint64_t records_removed = 0;
  std::uint64_t bytes_before = 0;  ///< stored bytes of the replaced segments
  std::uint64_t bytes_after = 0;   ///< stored bytes of the compacted ones
};

/// Records read from a log. Views point into mappings the batch keeps alive.
struct ReadBatch {
  std::vector<RecordView> records;
  std::uint64_t next_offset = 0;  ///< where the next read should start
  std::vector<std::shared_ptr<const Mapping>> pins;
};

class SegmentLog {
 public:
  /// Opens (creating if needed) the stream in `dir` and recovers it: every segment is scanned
  /// and CRC-checked; a torn tail of the last segment is truncated; damage anywhere else is
  /// `Errc::corrupt` naming file and offset (or skipped and counted with `salvage`). A segment
  /// whose header names another owner than `options.owner` is `Errc::corrupt` (never skipped).
  static Result<std::unique_ptr<SegmentLog>> open(const std::filesystem::path& dir, SegmentLogOptions options);

  /// Stops group commit for this log after a final sync of what is pending (batch/always).
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  /// Appends one record; returns its offset. `done` (optional) fires when the record reached
  /// the log's durability level (see the header comment), possibly before `append` returns.
  /// Exactly one of the two reports the outcome: `done` fires (once) only if `append` returns
  /// an offset; an error return means it never fires. (`always` with a failed sync: the bytes
  /// may be in the mapping, but the append failed with `io_error` and `done` stays silent.)
  /// Errors: `disk_full` (a new segment could not be reserved; nothing was written; retry
  /// later), `io_error` (the log is read-only after a failed sync, or mapping failed),
  /// `payload_too_large` (the record cannot fit in one segment). Never throws.
  Result<std::uint64_t> append(std::span<const std::byte> body, std::int64_t timestamp_ns,
                               Completion done = {}) noexcept EXCLUDES(mutex_);

  /// `append` without a body buffer: reserves room for a `body_size`-byte body in the active
  /// segment and calls `write` once, under the append lock, with exactly those bytes of the
  /// mapping (they read as zeros); then checksums and publishes the record. `write` must fill
  /// every byte, must not block, and must not call into this log. Errors as `append`'s.
  /// `write` is never called for a record that was not stored (every error but a failed
  /// `always` sync). `done` fires exactly once if the call returns an offset (batch: possibly
  /// later, on the flusher's or another caller's thread, with the group sync's outcome), never
  /// if it returns an error.
  Result<std::uint64_t> append_in_place(std::size_t body_size, std::int64_t timestamp_ns,
                                        BodyWriter write, Completion done = {}) noexcept
      EXCLUDES(mutex_);

  /// `append` without waiting for durability, at every level: returns once the record is in
  /// the mapping (it survives a crash of the process, not a power loss), and takes no
  /// completion. The record counts as unsynced like any other, so the next sync of this log
  /// covers it: an `always` append's, the flusher's at `batch`, an explicit `sync`, a roll's,
  /// the destructor's. For records whose loss on power failure is tolerable and whose writer
  /// must not pay a sync (a queue's delivery records: queue_journal.hpp). Errors as `append`'s,
  /// but never a sync's.
  Result<std::uint64_t> append_deferred(std::span<const std::byte> body,
                                        std::int64_t timestamp_ns) noexcept EXCLUDES(mutex_);

  /// Syncs everything appended so far; fires the completions it covers. A failure makes the log
  /// read-only and fails every pending completion. Blocks for the duration of the sync.
  Status sync() noexcept EXCLUDES(mutex_, sync_mutex_);

  /// Up to `max_records` records from `from` on (at least one if any exist, even if larger
  /// than `max_bytes`). Each record's CRC is checked. `from` below `start_offset()` is
  /// `out_of_range` (removed by retention or truncation); `from == end_offset()` is empty.
  Result<ReadBatch> read(std::uint64_t from, std::size_t max_records = 1024,
                         std::size_t max_bytes = 1u << 20) const EXCLUDES(mutex_);

  /// Offset of the first record with timestamp >= `timestamp_ns`, or end_offset() if none.
  Result<std::uint64_t> offset_for_timestamp(std::int64_t timestamp_ns) const EXCLUDES(mutex_);

  /// Deletes whole sealed segments per `policy` (age measured against `clock->wall_now()`).
  /// Returns the number of segments deleted.
  Result<std::size_t> apply_retention(const RetentionPolicy& policy) EXCLUDES(mutex_);
  /// Log compaction (Kafka's cleaner, for topics with `Cleanup::compact`): rewrites the sealed
  /// segments (never the active one) keeping only the records `keep` accepts, each at its
  /// offset — offsets never change; readers step over the holes. Consecutive sealed segments
  /// are merged while the result fits one segment. Each group is swapped in atomically and
  /// recovery-safe (a crash at any point leaves the old segments or the new one, never a mix):
  ///   1. write `<base>.seg.cleaned` (a compacted segment: header flag, span) and fsync it;
  ///   2. rename it to `<base>.seg.swap`, fsync the directory — the commit point;
  ///   3. under the log's lock: rename the swap file over `<base>.seg` and replace the group in
  ///      the index (readers that pinned the old mappings keep reading them);
  ///   4. fsync the directory; unlink the group's other segments; fsync the directory.
  /// Recovery (`open`) deletes `*.cleaned`, finishes step 3 for a `*.swap`, and removes the
  /// segments a compacted segment's span covers (step 4 cut short). Durability `none` skips
  /// the syncs (a kill -9 keeps the page cache; a power cut promises nothing there).
  /// At most one pass at a time (compact_mutex_); appends and reads go on meanwhile (the lock
  /// is held for step 3 only). Errors: `io_error` / `disk_full` (the old segments stay; the
  /// half-written file is removed), `corrupt` (a record failed its check).
  Result<CompactionStats> compact(const KeepRecord& keep) EXCLUDES(mutex_, compact_mutex_);

  /// Deletes every sealed segment whose records all lie below `offset` (acknowledged queue
  /// prefix). Returns the number of segments deleted; with `left`, what is left (one reading,
  /// under the log's lock).
  struct PrefixLeft {
    std::size_t segments = 0;  ///< segments left, the active one included
    /// The first segment's end offset when it is sealed: the least offset at which a call can
    /// delete something before the next roll. UINT64_MAX when only the active segment is left.
    std::uint64_t next_end = 0;
  };
  Result<std::size_t> truncate_prefix(std::uint64_t offset, PrefixLeft* left = nullptr)
      EXCLUDES(mutex_);

  /// First offset still stored. Exact when no truncation/retention runs concurrently.
  [[nodiscard]] std::uint64_t start_offset() const noexcept {
    return start_offset_.load(std::memory_order_acquire);  // pairs with delete_front_locked
  }
  /// Offset the next append gets (one past the last record).
  [[nodiscard]] std::uint64_t end_offset() const noexcept {
    return end_offset_.load(std::memory_order_acquire);  // pairs with the release in append
  }
  /// One past the last record known synced to stable storage.
  [[nodiscard]] std::uint64_t synced_offset() const noexcept {
    return synced_offset_.load(std::memory_order_acquire);  // pairs with the release in sync
  }
  /// True once a sync failed: appends fail with `io_error` from then on.
  [[nodiscard]] bool read_only() const noexcept {
    return failed_.load(std::memory_order_acquire);  // pairs with the release in fail_locked
  }
  [[nodiscard]] const RecoveryStats& recovery_stats() const noexcept { return recovery_; }
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return dir_; }
  [[nodiscard]] const SegmentLogOptions& options() const noexcept { return options_; }
  /// Segment files in use. Exact when no append, retention or truncation runs concurrently.
  [[nodiscard]] std::size_t segment_count() const noexcept {
    return segment_count_.load(std::memory_order_acquire);  // pairs with set_segment_count_locked
  }
  /// Mappings the log itself holds now (active + read cache); excludes those pinned by batches.
  [[nodiscard]] std::size_t mapped_segments() const EXCLUDES(mutex_);
  /// Bytes of records stored (headers and padding included).
  [[nodiscard]] std::uint64_t size_bytes() const EXCLUDES(mutex_);

 private:
  friend class Flusher;
  struct IndexEntry {
    std::uint64_t offset;
    std::size_t position;
  };
  struct Segment {
    std::uint64_t base_offset = 0;
    std::uint64_t end_offset = 0;                         // one past the last record
    std::size_t end_position = segment::kFileHeaderSize;  // append position
    std::int64_t max_timestamp = INT64_MIN;
    std::filesystem::path path;
    std::vector<IndexEntry> index;  // sparse: one entry per kIndexInterval bytes
    std::size_t last_indexed = 0;
    std::vector<std::pair<std::size_t, std::size_t>> holes;  // salvage: skipped [from, to)
    std::shared_ptr<Mapping> writable;                       // active segment only
    // Active segment only: bytes of the file fallocated (appends stay below), and the most
    // it may grow to (the mapping's size: max(segment_bytes, the file's size at open)).
    std::size_t reserved = 0;
    // A compacted segment (segment_format.hpp): offsets may skip; end_offset is its span's end.
    bool compacted = false;
  };
  using Pending = std::vector<std::pair<Completion, Status>>;

  SegmentLog(std::filesystem::path dir, SegmentLogOptions options);

  // Recovery, in its steps. open() runs them once, before the log is shared with another
  // thread, so they touch the guarded state without mutex_.
  struct TornTail {  // of the last segment: [from, to) is zeroed once it is mapped for writing
    std::size_t from = 0, to = 0;
    std::string what;
  };
  Status recover() NO_THREAD_SAFETY_ANALYSIS;
  /// The base offsets of the segment files in dir_, ascending.
  [[nodiscard]] Result<std::vector<std::uint64_t>> segment_bases() const;
  /// Maps, scans and judges one segment; appends it to segments_ (a half-created last one is
  /// removed instead), noting a torn tail in `torn`.
  Status recover_segment(std::uint64_t base, bool last, TornTail& torn) NO_THREAD_SAFETY_ANALYSIS;
  /// Salvage's losses in one segment, as recovery events.
  void report_salvage(const SegmentScan& scan, const std::string& path, std::uint64_t base,
                      const std::uint64_t* previous_end, bool last);
  /// Opens the last segment for appending (creating the first one if there is none) and zeroes
  /// the torn tail.
  Status open_recovered_tail(const TornTail& torn) NO_THREAD_SAFETY_ANALYSIS;
  /// Totals, segment count and the offset atomics, from segments_.
  void publish_recovered() NO_THREAD_SAFETY_ANALYSIS;

  // Reads, in their steps.
  struct ReadWindow {  // a segment's published records, from the index entry at or before
    std::shared_ptr<const Mapping> map;  // the offset read
    std::size_t position = 0, limit = 0;
    std::uint64_t segment_end = 0;
    std::vector<std::pair<std::size_t, std::size_t>> holes;
  };
  /// Under mutex_: the segment holding `batch.next_offset` (stepping over gaps salvage left,
  /// which moves it); nullopt at the end of the log or when retention raced a batch already
  /// begun; `out_of_range` outside the log.
  Result<std::optional<ReadWindow>> window_at(ReadBatch& batch) const EXCLUDES(mutex_);
  /// Without the lock: appends the window's records from `batch.next_offset` on to `batch`
  /// within the limits; `corrupt` for a record that fails its check.
  Status read_window(ReadWindow& window, ReadBatch& batch, std::size_t max_records,
                     std::size_t max_bytes, std::size_t& bytes) const;

  /// `append_in_place`; `wait` false: `append_deferred`'s contract (no sync waited for).
  Result<std::uint64_t> append_record(std::size_t body_size, std::int64_t timestamp_ns,
                                      BodyWriter write, Completion done, bool wait) noexcept
      EXCLUDES(mutex_);
  Status open_active(Segment& segment, bool created);
  /// Reserves room for `need` more bytes in the active segment (doubling `reserved`, at
  /// least to what `need` asks, at most to the mapping's size). `disk_full` / `io_error` if
  /// the reservation fails; the segment is unchanged then.
  Status grow_locked(Segment& active, std::size_t need) REQUIRES(mutex_);
  Status roll_locked(Pending& fire) REQUIRES(mutex_);
  Status sync_tail_locked(Pending& fire) REQUIRES(mutex_);
  void fail_locked(Failure failure, Pending& fire) REQUIRES(mutex_);
  void set_segment_count_locked() noexcept REQUIRES(mutex_) {
    // Relaxed: mutex_'s holder is the only writer.
    const std::size_t before = segment_count_.load(std::memory_order_relaxed);
    segment_count_.store(segments_.size(), std::memory_order_release);
    // The broker-wide gauge moves by the difference (modulo 2^64: a decrease wraps back).
    if (counters_) counters_->add(counters_->segments, segments_.size() - before);
  }
  /// `map.sync(from, to)`, timed and counted in the storage counters; 0 or the errno.
  int sync_range(const Mapping& map, std::size_t from, std::size_t to) const noexcept;
  void collect_synced_locked(std::uint64_t synced, Pending& fire) REQUIRES(mutex_);
  static void fire(Pending& pending) noexcept;
  Result<std::shared_ptr<const Mapping>> mapping_locked(const Segment& segment) const
      REQUIRES(mutex_);
  void note_record_locked(Segment& segment, const RecordView& record, std::size_t position)
      REQUIRES(mutex_);
  Status delete_front_locked(std::size_t count) REQUIRES(mutex_);
  /// Recovery: deletes `*.cleaned`, renames `*.swap` over their segments (compact, step 3).
  Status finish_compaction() NO_THREAD_SAFETY_ANALYSIS;
  struct CompactGroup;
  /// Writes, commits and swaps in one group of compacted segments (compact, steps 1-4).
  Status swap_in(const CompactGroup& group, CompactionStats& stats) EXCLUDES(mutex_);
  bool sync_due(std::chrono::steady_clock::time_point now) const noexcept;

  const std::filesystem::path dir_;
  const SegmentLogOptions options_;
  StorageCounters* const counters_;  // options_.counters.get(); null: nothing counted
  RecoveryStats recovery_;

  mutable Mutex mutex_;
  std::deque<Segment> segments_ GUARDED_BY(mutex_);  // ordered by base offset; back() is active
  mutable std::list<std::pair<std::uint64_t, std::shared_ptr<const Mapping>>> read_cache_
      GUARDED_BY(mutex_);
  // Batch completions by offset.
  std::deque<std::pair<std::uint64_t, Completion>> waiting_ GUARDED_BY(mutex_);
  std::size_t synced_position_ GUARDED_BY(mutex_) = segment::kFileHeaderSize;  // active segment
  struct UnsyncedRange {
    std::shared_ptr<Mapping> map;
    std::size_t from, to;
  };
  // Durability none: sealed, never synced.
  std::vector<UnsyncedRange> unsynced_sealed_ GUARDED_BY(mutex_);
  std::optional<Failure> failure_ GUARDED_BY(mutex_);

  Mutex sync_mutex_;     // one sync at a time (flusher and always-appenders)
  Mutex compact_mutex_;  // one compaction pass at a time
  std::atomic<std::uint64_t> start_offset_{0};
  std::atomic<std::uint64_t> end_offset_{0};
  std::atomic<std::uint64_t> synced_offset_{0};
  std::atomic<bool> failed_{false};
  std::atomic<std::size_t> segment_count_{0};  // segments_.size(), for readers without mutex_
  // Unsynced data, for the flusher's "is a sync due" check (relaxed: a hint; the sync itself
  // re-reads the exact state under mutex_).
  std::atomic<std::uint64_t> unsynced_bytes_{0};
  std::atomic<std::int64_t> unsynced_since_ns_{0};  // steady clock; 0 = nothing unsynced
  std::shared_ptr<Flusher> flusher_;
  bool opened_ = false;  // recovery succeeded (set once by open, before the log is shared)
};

}  // namespace switchyard::detail
