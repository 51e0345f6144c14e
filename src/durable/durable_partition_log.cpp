// The partition log of a durable topic. Design: src/durable/durable_partition_log.hpp.
#include "durable/durable_partition_log.hpp"
#include "switchyard/detail/deadline.hpp"

#include <chrono>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>

#include "switchyard/detail/message_body.hpp"
#include "util/access.hpp"

namespace switchyard::detail {

namespace {
constexpr std::int64_t kAgeCheckInterval =
    std::chrono::nanoseconds(std::chrono::seconds(1)).count();
constexpr std::size_t kReadBytes = 1u << 20;
}  // namespace

Result<std::unique_ptr<DurablePartitionLog>> DurablePartitionLog::open(std::uint32_t partition,
                                                     const std::filesystem::path& dir,
                                                     SegmentLogOptions options, RetentionPolicy retention,
                                                     std::shared_ptr<Clock> clock) {
  auto log = SegmentLog::open(dir, std::move(options));
  if (!log) return Result<std::unique_ptr<DurablePartitionLog>>(log.failure());
  return std::unique_ptr<DurablePartitionLog>(
      new DurablePartitionLog(partition, std::move(*log), retention, std::move(clock)));
}

DurablePartitionLog::DurablePartitionLog(std::uint32_t partition, std::unique_ptr<SegmentLog> log, RetentionPolicy retention,
                       std::shared_ptr<Clock> clock)
    : partition_(partition), log_(std::move(log)), retention_(retention), clock_(std::move(clock)) {
  segments_seen_.store(log_->segment_count(), std::memory_order_relaxed);
  apply_retention();  // limits may have shrunk since the last run, or records aged out
}

DurablePartitionLog::~DurablePartitionLog() = default;

Result<std::uint64_t> DurablePartitionLog::append(Message&& message, std::int64_t /*now_ns*/,
                                                  Completion done) noexcept {
  std::string object_bytes;
  auto fields = fields_of(message, object_bytes);
  if (!fields) return Result<std::uint64_t>(fields.failure());
  auto offset = append(*fields, std::move(done));
  if (offset) message = Message();  // the log holds the bytes now
  return offset;
}

Result<std::uint64_t> DurablePartitionLog::append(const MessageFields& fields,
                                                  Completion done) noexcept {
  if (retired_.load(std::memory_order_acquire)) {
    return Result<std::uint64_t>(Errc::closed,
                                 "partition " + std::to_string(partition_) + " was deleted");
  }
  auto offset = append_stored(*log_, fields, std::move(done));
  if (!offset) return offset;
  appended_bytes_.fetch_add(fields.key.size() + fields.payload.size(), std::memory_order_relaxed);
  if (log_->segment_count() != segments_seen_.load(std::memory_order_relaxed)) apply_retention();
  return offset;
}

void DurablePartitionLog::apply_retention() noexcept {
  MutexLock lock(retention_mutex_);
  if (retired_.load(std::memory_order_acquire)) return;
  // A failed deletion leaves the segment in place; the next roll or age check retries.
  try {
    (void)log_->apply_retention(retention_);
    segments_seen_.store(log_->segment_count(), std::memory_order_relaxed);
  } catch (...) {
  }
}

void DurablePartitionLog::expire(std::int64_t now_ns) noexcept {
  if (retention_.max_age.count() <= 0) return;
  std::int64_t due = next_age_check_ns_.load(std::memory_order_relaxed);
  if (now_ns < due) return;
  // One caller per interval runs it; the others carry on.
  if (!next_age_check_ns_.compare_exchange_strong(due, deadline_ns(now_ns, kAgeCheckInterval),
                                                  std::memory_order_relaxed)) {
    return;
  }
  apply_retention();
}

PartitionLog::Read DurablePartitionLog::read(std::uint64_t from, std::size_t max,
                                    std::vector<Record>& out) const {
  Read result{from, 0, {}};
  std::uint64_t pos = from;
  std::size_t taken = 0;
  const Stamp stamp = clock_->stamp();
  const std::int64_t mono_minus_wall =
      stamp.now.time_since_epoch().count() - stamp.wall.time_since_epoch().count();
  // Retention may delete the segment between reading start and reading it: start over, a few
  // times at most (each retry means the start moved on).
  for (int retries = 0; taken < max && retries < 64;) {
    const std::uint64_t start = log_->start_offset();
    if (pos < start) {
      result.missed += start - pos;
      pos = start;
    }
    if (pos >= log_->end_offset()) break;
    auto batch = log_->read(pos, max - taken, kReadBytes);
    if (!batch) {
      if (batch.code() == Errc::out_of_range) {
        ++retries;
        continue;
      }
      result.status = Status(batch.failure());
      break;
    }
    if (batch->records.empty()) {
      pos = std::max(pos, batch->next_offset);  // past holes compaction left at the end
      break;
    }
    for (const RecordView& view : batch->records) {
      auto stored = decode_stored_message(view.body);
      Result<Message> message =
          stored ? to_message(*stored, mono_minus_wall) : Result<Message>(stored.failure());
      if (!message) {
        result.status =
            Status(message.code(), "partition " + std::to_string(partition_) + " offset " +
                                       std::to_string(view.offset) + ": " + message.message());
        result.next = pos;
        return result;
      }
      out.push_back(Record{std::move(*message), partition_, view.offset});
      pos = view.offset + 1;
      ++taken;
    }
  }
  result.next = pos;
  return result;
}

std::uint64_t DurablePartitionLog::offset_for_time(Timestamp time) const {
  auto offset = log_->offset_for_timestamp(time.time_since_epoch().count());
  return offset ? *offset : log_->end_offset();
}

PartitionStats DurablePartitionLog::stats() const {
  PartitionStats s;
  s.partition = partition_;
  s.start_offset = log_->start_offset();
  s.end_offset = log_->end_offset();
  s.appended = s.end_offset;
  s.bytes = log_->size_bytes();
  s.appended_bytes = appended_bytes_.load(std::memory_order_relaxed);
  s.compacted_away = compacted_away_.load(std::memory_order_relaxed);
  return s;
}

Result<std::uint64_t> DurablePartitionLog::compact(std::int64_t /*now_ns*/,
                                                   std::int64_t delete_retention_ns) noexcept try {
  MutexLock lock(retention_mutex_);
  if (retired_.load(std::memory_order_acquire)) return std::uint64_t{0};
  const std::int64_t wall_now = clock_->wall_now().time_since_epoch().count();
  // The latest offset of every key, over everything stored now. Records appended after this
  // scan are kept whatever they hold (offset >= scanned_end).
  std::unordered_map<std::string, std::uint64_t> latest;
  std::uint64_t from = log_->start_offset();
  const std::uint64_t scanned_end = log_->end_offset();
  while (from < scanned_end) {
    auto batch = log_->read(from, 1024, kReadBytes);
    if (!batch) return Result<std::uint64_t>(batch.failure());
    if (batch->records.empty()) break;
    for (const RecordView& view : batch->records) {
      if (view.offset >= scanned_end) break;
      auto stored = decode_stored_message(view.body);
      if (!stored) return Result<std::uint64_t>(stored.failure());
      if (!stored->key.empty()) latest[std::move(stored->key)] = view.offset;
    }
    from = batch->next_offset;
  }
  Status failed;
  auto keep = [&](const RecordView& view) {
    if (view.offset >= scanned_end) return true;
    auto stored = decode_stored_message(view.body);
    if (!stored) {
      if (failed) failed = Status(stored.failure());
      return true;
    }
    if (stored->key.empty()) return true;
    auto it = latest.find(stored->key);
    if (it == latest.end() || it->second != view.offset) return false;
    return !(is_tombstone(stored->payload.size(), stored->headers) &&
             deadline_ns(view.timestamp_ns, delete_retention_ns) <= wall_now);
  };
  auto pass = log_->compact(keep);
  if (!pass) return Result<std::uint64_t>(pass.failure());
  if (!failed) return Result<std::uint64_t>(failed.failure());
  compacted_away_.fetch_add(pass->records_removed, std::memory_order_relaxed);
  return pass->records_removed;
} catch (const std::bad_alloc&) {
  return Result<std::uint64_t>(Errc::out_of_memory);
}

void DurablePartitionLog::retire() noexcept {
  MutexLock lock(retention_mutex_);  // waits for a retention run in progress
  retired_.store(true, std::memory_order_release);
}

}  // namespace switchyard::detail
