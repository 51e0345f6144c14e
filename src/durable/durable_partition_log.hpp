// src/durable/durable_partition_log.hpp — the partition log of a durable topic: a
// PartitionLog over one `detail::SegmentLog` (mmap'd, CRC-checked segment files in
// `<topic dir>/p<N>`).
//
// Data
// ----
//   Each record's body is a `StoredMessage` (stored_message.hpp, the codec queues use too): id,
//   wall timestamp, priority, key, group, headers, payload, and the send's delay and TTL as
//   wall-clock deadlines (restored onto the monotonic clock when read, so a record forwarded
//   to a queue is held back and expires as the memory log's would). A message that carries a C++
//   object is stored through its `Codec` (no codec: `Errc::wrong_type`); readers get the bytes back
//   (`Message::get<T>()` decodes them). The record's log timestamp is the message's wall timestamp,
//   so retention by age and `offset_for_time` use the producer's clock, like Kafka's CreateTime.
//
// Retention (coarser than the memory log's)
// -----------------------------------------
//   Whole sealed segments are deleted, oldest first, while the rest still meets every limit
//   (`SegmentLog::apply_retention`): the log keeps *at least* the configured records / bytes / age,
//   never less. Records and bytes are checked after every append that started a new segment;
//   age when `expire` is called (each poll and stats call), at most once per second of the
//   broker's monotonic clock. `bytes` here counts stored bytes (framing and headers included).
//
// Threading story
// ---------------
//   * Appends: any thread; `SegmentLog::append_in_place` serialises them. The message is encoded
//     under the log's append lock, straight into the active segment's mapping (no buffer, no
//     heap allocation; an object payload is first encoded by its Codec), then checksummed
//     there and published.
//   * Reads: any number of threads; `SegmentLog::read` pins the mappings, each record is
//     decoded into a fresh Message (the read path allocates; the memory log's does not).
//   * Retention: at most one `apply_retention` at a time (retention_mutex_, never held while
//     appending); `SegmentLog` itself makes it safe against concurrent appends and reads.
//   * `retire()` (the topic was deleted and its directory is being removed): later appends fail
//     with `closed`, retention stops touching files. Reads of what is mapped keep working.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "durable/partition_log.hpp"
#include "durable/stored_message.hpp"
#include "storage/segment_log.hpp"
#include "switchyard/clock.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

class DurablePartitionLog final : public PartitionLog {
 public:
  /// Opens (creating or recovering) the partition log in `dir`. `options.clock` must be set.
  static Result<std::unique_ptr<DurablePartitionLog>> open(std::uint32_t partition,
                                                  const std::filesystem::path& dir,
                                                  SegmentLogOptions options, RetentionPolicy retention,
                                                  std::shared_ptr<Clock> clock);
  ~DurablePartitionLog() override;

  Result<std::uint64_t> append(Message&& message, std::int64_t now_ns,
                               Completion done) noexcept override;
  /// `append` of a message that was never built (see `Destination::accept_fields`): `fields`
  /// are encoded straight into the log and not kept. Same outcomes and `done` contract.
  Result<std::uint64_t> append(const MessageFields& fields, Completion done) noexcept;
  Read read(std::uint64_t from, std::size_t max, std::vector<Record>& out) const override;
  [[nodiscard]] std::uint64_t start_offset() const noexcept override {
    return log_->start_offset();
  }
  [[nodiscard]] std::uint64_t end_offset() const noexcept override { return log_->end_offset(); }
  void expire(std::int64_t now_ns) noexcept override;
  [[nodiscard]] std::uint64_t offset_for_time(Timestamp time) const override;
  [[nodiscard]] PartitionStats stats() const override;
  /// Reads the whole log once (the latest offset of each key), then has the segment log
  /// rewrite its sealed segments (`SegmentLog::compact`: atomic, recovery-safe swaps).
  /// Tombstone age is by the records' wall timestamps against the clock's wall time; `now_ns`
  /// is not used. Serialised with retention (retention_mutex_).
  Result<std::uint64_t> compact(std::int64_t now_ns,
                                std::int64_t delete_retention_ns) noexcept override;

  /// No more appends (`closed`) nor retention; see the file comment. @note threadsafe
  void retire() noexcept;
  [[nodiscard]] const SegmentLog& log() const noexcept { return *log_; }

 private:
  DurablePartitionLog(std::uint32_t partition, std::unique_ptr<SegmentLog> log, RetentionPolicy retention,
             std::shared_ptr<Clock> clock);
  void apply_retention() noexcept;

  const std::uint32_t partition_;
  const std::unique_ptr<SegmentLog> log_;
  const RetentionPolicy retention_;
  const std::shared_ptr<Clock> clock_;
  Mutex retention_mutex_;
  // Relaxed counters and hints: each is exact on its own; none orders other memory.
  std::atomic<std::size_t> segments_seen_{0};       // segment count at the last retention
  std::atomic<std::int64_t> next_age_check_ns_{0};  // monotonic
  std::atomic<std::uint64_t> appended_bytes_{0};    // key + payload, since open
  std::atomic<bool> retired_{false};                // release in retire, acquire in readers
  std::atomic<std::uint64_t> compacted_away_{0};    // records compaction removed, since open
};

}  // namespace switchyard::detail
