// The durable stream: recovery, appends into the active mapping, group commit, reads,
// retention. Layout and policies: log.hpp and segment_format.hpp.
#include "storage/segment_log.hpp"
#include "switchyard/detail/deadline.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/crc32c.hpp"

namespace switchyard::detail {
namespace {

constexpr std::size_t kIndexInterval = 4096;  // bytes between sparse index entries

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// A segment file mapped read-only for recovery's scan; null for an empty file. The descriptor
/// is closed before returning.
Result<std::shared_ptr<Mapping>> map_for_scan(const std::filesystem::path& file,
                                              FaultInjector* faults) {
  const std::string path = file.string();
  auto fd = FileHandle::open(file, O_RDONLY, 0, faults);
  if (!fd) return fd.failure();
  auto size = file_size(fd->get(), path, faults);
  if (!size) return size.failure();
  if (*size == 0) return std::shared_ptr<Mapping>();
  return Mapping::map(fd->get(), *size, false, path, faults);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Flusher

Flusher::Flusher() : thread_([this] { run(); }) {}

Flusher::~Flusher() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Flusher::add(SegmentLog* log) {
  {
    MutexLock lock(mutex_);
    logs_.push_back(log);
  }
  cv_.notify_all();
}

void Flusher::remove(SegmentLog* log) {
  MutexLock lock(mutex_);
  while (syncing_ == log) cv_.wait(mutex_);
  std::erase(logs_, log);
}

void Flusher::wake() noexcept {
  {
    MutexLock lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Flusher::run() {
  UniqueLock lock(mutex_);
  while (!stop_) {
    woken_ = false;
    auto wait = std::chrono::nanoseconds::max();
    // Index loop: logs_ may change while the mutex is released for a sync.
    for (std::size_t i = 0; i < logs_.size() && !stop_; ++i) {
      SegmentLog* log = logs_[i];
      const auto now = std::chrono::steady_clock::now();
      if (log->sync_due(now)) {
        syncing_ = log;
        lock.unlock();
        (void)log->sync();  // failures reach producers through completions and appends
        lock.lock();
        syncing_ = nullptr;
        cv_.notify_all();
        continue;
      }
      // Relaxed: a scheduling hint; the sync reads the exact state under the log's mutex.
      const std::int64_t since = log->unsynced_since_ns_.load(std::memory_order_relaxed);
      if (since != 0) {
        const auto due =
            std::chrono::nanoseconds(since) + log->options_.sync_interval - now.time_since_epoch();
        wait =
            std::min(wait, std::max<std::chrono::nanoseconds>(due, std::chrono::microseconds(50)));
      }
    }
    if (stop_) break;
    if (woken_) continue;
    if (wait == std::chrono::nanoseconds::max()) {
      while (!stop_ && !woken_) cv_.wait(mutex_);
    } else {
      const auto deadline = std::chrono::steady_clock::now() + wait;
      while (!stop_ && !woken_ && cv_.wait_until(mutex_, deadline) == std::cv_status::no_timeout) {
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sizing options

std::uint64_t first_extent(std::uint64_t segment_bytes) noexcept {
  constexpr std::uint64_t kSmallest = 4096, kLargest = 64 * 1024;
  return std::min(segment_bytes, std::clamp(segment_bytes / 16, kSmallest, kLargest));
}

Status check_storage_options(const StorageOptions& options) {
  using O = StorageOptions;
  auto bad = [](std::string what) { return Failure{Errc::invalid_argument, std::move(what)}; };
  if (options.segment_bytes != 0 && (options.segment_bytes < O::kMinSegmentBytes ||
                                     options.segment_bytes > O::kMaxSegmentBytes)) {
    return bad(fmt::format("storage.segment_bytes {} outside 0 (inherit) or [{}, 2^40]",
                           options.segment_bytes, O::kMinSegmentBytes));
  }
  if (options.preallocate != Preallocate::inherit && options.preallocate != Preallocate::grow &&
      options.preallocate != Preallocate::full) {
    return bad(fmt::format("storage.preallocate {} is not a Preallocate value",
                           static_cast<int>(options.preallocate)));
  }
  if (options.flush_interval.count() < 0 || options.flush_interval > O::kMaxFlushInterval) {
    return bad(fmt::format("storage.flush_interval {} ns outside 0 (inherit) to 1 hour",
                           options.flush_interval.count()));
  }
  if (options.flush_bytes > O::kMaxFlushBytes) {
    return bad(
        fmt::format("storage.flush_bytes {} outside 0 (inherit) to 2^40", options.flush_bytes));
  }
  return {};
}

void apply_storage_options(const StorageOptions& options, SegmentLogOptions& log) noexcept {
  if (options.segment_bytes != 0) log.segment_bytes = options.segment_bytes;
  if (options.preallocate != Preallocate::inherit) {
    log.preallocate = options.preallocate == Preallocate::full;
  }
  if (options.flush_interval.count() != 0) log.sync_interval = options.flush_interval;
  if (options.flush_bytes != 0) log.sync_bytes = options.flush_bytes;
}

// ---------------------------------------------------------------------------------------------
// SegmentLog: opening and recovery

void add_recovery(StreamRecovery& into, const RecoveryStats& stats) {
  into.segments += stats.segments;
  into.records += stats.records;
  into.bytes += stats.bytes;
  into.truncated_bytes += stats.truncated_bytes;
  into.removed_segments += stats.removed_segments;
  into.corrupt_regions_skipped += stats.corrupt_regions_skipped;
  into.corrupt_bytes_skipped += stats.corrupt_bytes_skipped;
  into.elapsed += stats.elapsed;
  into.events.insert(into.events.end(), stats.events.begin(), stats.events.end());
}

SegmentLog::SegmentLog(std::filesystem::path dir, SegmentLogOptions options)
    : dir_(std::move(dir)), options_(std::move(options)), counters_(options_.counters.get()) {}

int SegmentLog::sync_range(const Mapping& map, std::size_t from, std::size_t to) const noexcept {
  if (counters_ == nullptr) return map.sync(from, to);
  // Real time, not the broker's clock: this is how long the disk took.
  const auto start = std::chrono::steady_clock::now();
  const int err = map.sync(from, to);
  counters_->sync_latency.record((std::chrono::steady_clock::now() - start).count());
  counters_->add(counters_->syncs, 1);
  if (err != 0) counters_->add(counters_->sync_failures, 1);
  return err;
}

Result<std::unique_ptr<SegmentLog>> SegmentLog::open(const std::filesystem::path& dir, SegmentLogOptions options) {
  if (options.segment_bytes < segment::kFileHeaderSize + segment::record_footprint(0) ||
      options.segment_bytes > (std::uint64_t{1} << 40)) {
    return Failure{
        Errc::invalid_argument,
        fmt::format("{}: segment_bytes {} outside [{}, 2^40]", dir.string(), options.segment_bytes,
                    segment::kFileHeaderSize + segment::record_footprint(0))};
  }
  if (options.max_read_mappings == 0) options.max_read_mappings = 1;
  if (!options.clock) options.clock = SystemClock::instance();
  if (options.durability == Durability::batch && !options.flusher) {
    options.flusher = std::make_shared<Flusher>();
  }
  std::unique_ptr<SegmentLog> log(new SegmentLog(dir, std::move(options)));
  // A log that failed to open has nothing to sync: its destructor must not look for a segment.
  if (auto status = log->recover(); !status) return status.failure();
  log->opened_ = true;
  if (StorageCounters* counters = log->counters_) {
    counters->add(counters->logs_recovered, 1);
    counters->add(counters->recovery_events, log->recovery_.events.size());
  }
  if (log->options_.durability == Durability::batch) {
    log->flusher_ = log->options_.flusher;
    log->flusher_->add(log.get());
  }
  return log;
}

SegmentLog::~SegmentLog() {
  if (flusher_) flusher_->remove(this);
  // This log's segments leave the broker-wide gauge (0 if recovery never published a count).
  if (counters_) {
    counters_->segments.fetch_sub(segment_count_.load(std::memory_order_relaxed),
                                  std::memory_order_relaxed);
  }
  if (!opened_) return;  // recovery failed: no active segment, nothing appended
  if (options_.durability == Durability::batch || options_.durability == Durability::always) {
    (void)sync();  // fires every pending completion, with success or the sync's failure
  }
}

void SegmentLog::note_record_locked(Segment& segment, const RecordView& record, std::size_t position) {
  // An entry every kIndexInterval bytes, and at every resynchronisation point after a salvage
  // skip, so that a read never has to walk across a skipped region.
  if (segment.index.empty() || position >= segment.last_indexed + kIndexInterval ||
      position != segment.end_position) {
    if (position != segment.end_position) {
      segment.holes.emplace_back(segment.end_position, position);
    }
    segment.index.push_back({record.offset, position});
    segment.last_indexed = position;
  }
  segment.max_timestamp = std::max(segment.max_timestamp, record.timestamp_ns);
  segment.end_offset = record.offset + 1;
  segment.end_position = position + segment::record_footprint(record.body.size());
}

Status SegmentLog::recover() {
  const auto started = std::chrono::steady_clock::now();
  if (auto made = make_directories(dir_, options_.faults); !made) return made;
  if (auto finished = finish_compaction(); !finished) return finished;
  auto bases = segment_bases();
  if (!bases) return bases.failure();
  TornTail torn;  // of the last segment, zeroed once it is mapped for writing
  bool removed_covered = false;
  for (std::size_t i = 0; i < bases->size(); ++i) {
    const std::uint64_t base = (*bases)[i];
    if (!segments_.empty() && base < segments_.back().end_offset &&
        base > segments_.back().base_offset && segments_.back().compacted) {
      // A segment the compacted one before it replaced: a compaction stopped between its
      // swap and the removal of the segments it merged (SegmentLog::compact, step 4).
      const auto path = dir_ / segment::file_name(base);
      if (auto removed = remove_file(path, options_.faults); !removed) return removed;
      recovery_.events.push_back(
          fmt::format("{}: removed a segment compaction had replaced "
                      "(covered by {})",
                      path.string(), segments_.back().path.string()));
      removed_covered = true;
      continue;
    }
    if (auto status = recover_segment(base, i + 1 == bases->size(), torn); !status) {
      return status;
    }
  }
  if (removed_covered && options_.durability != Durability::none) {
    if (auto synced = sync_directory(dir_, options_.faults); !synced) return synced;
  }
  if (auto status = open_recovered_tail(torn); !status) return status;
  publish_recovered();
  recovery_.elapsed = std::chrono::steady_clock::now() - started;
  return {};
}

Result<std::vector<std::uint64_t>> SegmentLog::segment_bases() const {
  auto entries = list_directory(dir_, options_.faults);
  if (!entries) return entries.failure();
  std::vector<std::uint64_t> bases;
  for (const auto& entry : *entries) {
    std::uint64_t base = 0;
    std::error_code ec;
    if (entry.is_regular_file(ec) &&
        segment::parse_file_name(entry.path().filename().string(), base)) {
      bases.push_back(base);
    }
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

Status SegmentLog::recover_segment(std::uint64_t base, bool last, TornTail& torn) {
  FaultInjector* const faults = options_.faults;
  Segment seg;
  seg.base_offset = base;
  seg.end_offset = base;
  seg.path = dir_ / segment::file_name(base);
  const std::string path = seg.path.string();

  auto mapped = map_for_scan(seg.path, faults);
  if (!mapped) return mapped.failure();
  std::shared_ptr<Mapping> map = std::move(*mapped);
  const std::span<const std::byte> bytes =
      map ? std::span<const std::byte>(map->bytes()) : std::span<const std::byte>();

  auto scan =
      scan_segment(bytes, path, {.salvage = options_.salvage, .probe_after_damage = true},
                   // Before the log is shared (as recover_segment itself): no lock held.
                   [&](const RecordView& record, std::size_t position)
                       NO_THREAD_SAFETY_ANALYSIS { note_record_locked(seg, record, position); });
  if (!scan) {
    // A last segment whose header never got written (killed while rolling) holds no record:
    // remove it; the previous segment becomes the active one again.
    if (last && is_half_created(bytes)) {
      const std::size_t size = bytes.size();
      map.reset();
      if (auto removed = remove_file(seg.path, faults); !removed) return removed;
      ++recovery_.removed_segments;
      recovery_.truncated_bytes += size;
      recovery_.events.push_back(
          fmt::format("{}: removed half-created segment ({})", path, scan.message()));
      return {};
    }
    return scan.failure();
  }
  // A segment of another stream (another destination, partition or role) is not damage to
  // skip, salvage or not: refuse it before judging its records.
  if (scan->header.has_owner()) {
    if (auto status = check_owner(scan->header.owner, options_.owner, path, segment::kOwnerOffset);
        !status) {
      return status;
    }
  }
  const std::uint64_t* previous_end = segments_.empty() ? nullptr : &segments_.back().end_offset;
  auto verdict = judge_segment(*scan, path, base, previous_end, last, options_.salvage);
  if (verdict.kind == SegmentVerdict::corrupt) {
    return Failure{Errc::corrupt, std::move(verdict.message)};
  }
  if (verdict.kind == SegmentVerdict::torn_tail) {
    torn.from = scan->valid_end;
    torn.to = scan->data_end;
    torn.what = std::move(verdict.message);
  }
  report_salvage(*scan, path, base, previous_end, last);
  recovery_.records += scan->records;
  if (scan->header.compacted()) {
    seg.compacted = true;
    seg.end_offset = std::max(seg.end_offset, base + scan->header.compacted_span);
  }
  segments_.push_back(std::move(seg));
  return {};
}

void SegmentLog::report_salvage(const SegmentScan& scan, const std::string& path,
                                std::uint64_t base, const std::uint64_t* previous_end, bool last) {
  // What salvage let through beyond skipped regions: a gap between segments, and damage
  // at the end of a sealed segment with nothing valid after it. Both lose records; say so.
  if (previous_end != nullptr && base > *previous_end) {
    recovery_.events.push_back(fmt::format(
        "{}: segment starts at offset {} but the previous one ends at {}: salvage skipped "
        "offsets [{}, {})",
        path, base, *previous_end, *previous_end, base));
  }
  if (!last && scan.data_end > scan.valid_end) {
    ++recovery_.corrupt_regions_skipped;
    recovery_.corrupt_bytes_skipped += scan.data_end - scan.valid_end;
    recovery_.events.push_back(
        fmt::format("{}: offset {}: damage to the end of a sealed "
                    "segment; salvage skipped {} bytes",
                    path, scan.valid_end, scan.data_end - scan.valid_end));
  }
  if (scan.skipped_regions > 0) {
    recovery_.corrupt_regions_skipped += scan.skipped_regions;
    recovery_.corrupt_bytes_skipped += scan.skipped_bytes;
    recovery_.events.push_back(
        fmt::format("{}: offset {}: {}; salvage skipped {} region(s), {} "
                    "bytes",
                    path, scan.damage_at, scan.damage, scan.skipped_regions, scan.skipped_bytes));
  }
}

Status SegmentLog::open_recovered_tail(const TornTail& torn) {
  if (segments_.empty()) {
    Segment seg;
    seg.base_offset = seg.end_offset = options_.first_offset;
    seg.path = dir_ / segment::file_name(seg.base_offset);
    if (auto status = open_active(seg, true); !status) return status;
    segments_.push_back(std::move(seg));
    return {};
  }
  if (auto status = open_active(segments_.back(), false); !status) return status;
  Segment& active = segments_.back();
  if (torn.to > torn.from) {
    std::memset(active.writable->data() + torn.from, 0, torn.to - torn.from);
    if (options_.durability != Durability::none) {
      if (int err = sync_range(*active.writable, torn.from, torn.to); err != 0) {
        return os_failure(err, active.path.string(), "sync of the truncated tail");
      }
    }
    recovery_.truncated_bytes += torn.to - torn.from;
    recovery_.events.push_back(torn.what + ": truncated");
  }
  return {};
}

void SegmentLog::publish_recovered() {
  for (const auto& seg : segments_) {
    recovery_.bytes += seg.end_position - segment::kFileHeaderSize;
  }
  recovery_.segments = segments_.size();
  set_segment_count_locked();
  synced_position_ = segments_.back().end_position;
  start_offset_.store(segments_.front().base_offset, std::memory_order_release);
  end_offset_.store(segments_.back().end_offset, std::memory_order_release);
  synced_offset_.store(segments_.back().end_offset, std::memory_order_release);
}

Status SegmentLog::open_active(Segment& segment, bool created) {
  const std::string path = segment.path.string();
  FaultInjector* const faults = options_.faults;
  auto fd =
      FileHandle::open(segment.path, created ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0644, faults);
  if (!fd) return fd.failure();
  // A file this call created and could not finish goes again (best effort: a leftover
  // header-less file is removed by recovery as half-created).
  auto undo = [&](Failure failure) -> Status {
    fd->reset();
    if (created) (void)::unlink(segment.path.c_str());
    return failure;
  };
  auto size = file_size(fd->get(), path, faults);
  if (!size) return undo(size.failure());
  // The mapping covers all the segment may grow to; appends use only what is reserved: all of
  // it when preallocating, else the first extent (or what the file already holds, reserved
  // again so that a file with holes gets its blocks now, not on a page fault).
  const auto capacity = std::max<std::size_t>(options_.segment_bytes, *size);
  const std::size_t reserved =
      options_.preallocate ? capacity
                           : std::max<std::size_t>(*size, first_extent(options_.segment_bytes));
  if (auto allocated = allocate(fd->get(), path, 0, reserved, faults); !allocated) {
    return undo(allocated.failure());
  }
  auto map = Mapping::map(fd->get(), capacity, true, path, faults);
  if (!map) return undo(map.failure());
  if (auto closed = fd->close(path, faults); !closed) return undo(closed.failure());
#ifdef MADV_HUGEPAGE
  // Durability none never syncs a range, so the active segment may be backed by 2 MiB folios
  // where the kernel and file system allow it (Linux 6.x ext4/xfs large folios, THP "madvise"
  // or "always"): a write fault then maps 2 MiB instead of 4-64 KiB, which halves the cost of
  // filling a fresh segment. Not for batch/always: dirtiness is tracked per folio, so every
  // small group-commit sync would write the whole 2 MiB. Advice only: failure is harmless.
  if (options_.durability == Durability::none) {
    (void)::madvise((*map)->data(), capacity, MADV_HUGEPAGE);
  }
#endif
  if (created) {
    write_segment_header((*map)->bytes(),
                         {segment::kVersion, segment.base_offset,
                          options_.clock->wall_now().time_since_epoch().count(), options_.owner});
    if (options_.durability != Durability::none) {
      if (int err = sync_range(**map, 0, segment::kFileHeaderSize); err != 0) {
        return undo(os_failure(err, path, "sync of the new segment header"));
      }
      if (auto status = sync_directory(dir_, faults); !status) return undo(status.failure());
    }
    if (counters_) counters_->add(counters_->segments_created, 1);
  }
  segment.writable = std::move(*map);
  segment.reserved = reserved;
  return {};
}

Status SegmentLog::grow_locked(Segment& active, std::size_t need) {
  constexpr std::size_t kPage = 4096;
  const std::size_t capacity = active.writable->size();
  const std::size_t want = active.end_position + need;  // <= capacity: the caller rolled if not
  const std::size_t doubled = std::max(want, std::min(capacity, active.reserved * 2));
  const std::size_t target = std::min(capacity, (doubled + kPage - 1) / kPage * kPage);
  const std::string path = active.path.string();
  FaultInjector* const faults = options_.faults;
  // The descriptor was closed after mmap (no descriptor stays open): open it again for the
  // reservation. The mapping already covers the new part; the file grows under it.
  auto fd = FileHandle::open(active.path, O_RDWR, 0644, faults);
  if (!fd) return fd.failure();
  if (auto allocated = allocate(fd->get(), path, active.reserved, target - active.reserved, faults);
      !allocated) {
    return allocated;
  }
  if (auto closed = fd->close(path, faults); !closed) return closed;
  active.reserved = target;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Appends and group commit

Result<std::uint64_t> SegmentLog::append(std::span<const std::byte> body, std::int64_t timestamp_ns,
                                  Completion done) noexcept {
  auto copy = [body](std::span<std::byte> out) noexcept {
    if (!body.empty()) std::memcpy(out.data(), body.data(), body.size());
  };
  return append_in_place(body.size(), timestamp_ns, copy, std::move(done));
}

Result<std::uint64_t> SegmentLog::append_deferred(std::span<const std::byte> body,
                                                  std::int64_t timestamp_ns) noexcept {
  auto copy = [body](std::span<std::byte> out) noexcept {
    if (!body.empty()) std::memcpy(out.data(), body.data(), body.size());
  };
  return append_record(body.size(), timestamp_ns, copy, {}, false);
}

Result<std::uint64_t> SegmentLog::append_in_place(std::size_t body_size, std::int64_t timestamp_ns,
                                                  BodyWriter write, Completion done) noexcept {
  return append_record(body_size, timestamp_ns, write, std::move(done), true);
}

Result<std::uint64_t> SegmentLog::append_record(std::size_t body_size, std::int64_t timestamp_ns,
                                                BodyWriter write, Completion done,
                                                bool wait) noexcept {
  if (body_size > segment::kMaxBody ||
      segment::record_footprint(body_size) + segment::kFileHeaderSize > options_.segment_bytes) {
    return Failure{Errc::payload_too_large,
                   fmt::format("{}: a {}-byte record does not fit in a {}-byte segment",
                               dir_.string(), body_size, options_.segment_bytes)};
  }
  const std::size_t need = segment::record_footprint(body_size);
  Pending to_fire;
  std::uint64_t offset = 0;
  bool wake = false;
  {
    MutexLock lock(mutex_);
    if (failure_) {
      return Failure{Errc::io_error, "log is read-only after a failed sync: " + failure_->message};
    }
    Segment* active = &segments_.back();
    if (active->end_position + need > active->writable->size()) {
      if (auto status = roll_locked(to_fire); !status) {
        fire(to_fire);
        return status.failure();
      }
      active = &segments_.back();
    }
    if (active->end_position + need > active->reserved) {
      // Reserved before written: a failed reservation fails this append, writing nothing.
      if (auto status = grow_locked(*active, need); !status) {
        fire(to_fire);
        return status.failure();
      }
    }
    offset = active->end_offset;
    const std::size_t position = active->end_position;
    const std::span<std::byte> record = active->writable->bytes().subspan(position, need);
    write(record.subspan(segment::kBodyOffset, body_size));
    seal_record(record, offset, timestamp_ns, body_size);
    note_record_locked(
        *active, RecordView{offset, timestamp_ns, record.subspan(segment::kBodyOffset, body_size)},
        position);
    // Release: a reader that acquires end_offset_ sees the record's bytes (in-process readers
    // also pass through mutex_, which orders the same way).
    end_offset_.store(offset + 1, std::memory_order_release);
    if (counters_) {
      counters_->add(counters_->bytes_written, need);
      counters_->add(counters_->records_written, 1);
    }
    if (options_.durability != Durability::none) {
      // batch: the sync that covers the record fires `done`. always: this call does, below,
      // once its own sync() says how it went; a completion in waiting_ would also be fired by
      // a failing sync (fail_locked) while append returns that failure: reported twice.
      if (done && options_.durability == Durability::batch) {
        waiting_.emplace_back(offset, std::move(done));
      }
      // Relaxed: hints for the flusher's "is a sync due" check; the sync re-reads under mutex_.
      const std::uint64_t before = unsynced_bytes_.fetch_add(need, std::memory_order_relaxed);
      if (before == 0) unsynced_since_ns_.store(steady_ns(), std::memory_order_relaxed);
      wake = before == 0 || (before < options_.sync_bytes && before + need >= options_.sync_bytes);
    }
  }
  fire(to_fire);
  switch (options_.durability) {
    case Durability::memory:
    case Durability::none:
      if (done) done(Status{});
      break;
    case Durability::batch:
      if (wake && flusher_) flusher_->wake();
      break;
    case Durability::always:
      if (!wait) break;  // append_deferred: the next sync of the log covers the record
      // Concurrent appenders share syncs: sync() returns at once if another covered us, and
      // fails if any sync failed (the log is read-only then). Exactly one of the two reports
      // the outcome: the error return, or `done` with success.
      if (auto status = sync(); !status) return status.failure();
      if (done) done(Status{});
      break;
  }
  return offset;
}

bool SegmentLog::sync_due(std::chrono::steady_clock::time_point now) const noexcept {
  // Relaxed: see unsynced_bytes_.
  const std::uint64_t bytes = unsynced_bytes_.load(std::memory_order_relaxed);
  if (bytes == 0) return false;
  if (bytes >= options_.sync_bytes) return true;
  const std::int64_t since = unsynced_since_ns_.load(std::memory_order_relaxed);
  return now.time_since_epoch() - std::chrono::nanoseconds(since) >= options_.sync_interval;
}

Status SegmentLog::sync() noexcept {
  MutexLock sync_lock(sync_mutex_);
  Pending to_fire;
  std::shared_ptr<Mapping> map;
  std::size_t from = 0, to = 0;
  std::uint64_t target = 0, base = 0;
  std::vector<UnsyncedRange> sealed;
  {
    MutexLock lock(mutex_);
    if (failure_) return *failure_;
    const Segment& active = segments_.back();
    target = active.end_offset;
    if (target <= synced_offset_.load(std::memory_order_relaxed)) return {};
    map = active.writable;
    base = active.base_offset;
    from = synced_position_;
    to = active.end_position;
    sealed.swap(unsynced_sealed_);
    unsynced_bytes_.store(0, std::memory_order_relaxed);
    unsynced_since_ns_.store(0, std::memory_order_relaxed);
  }
  int err = 0;
  for (const auto& range : sealed) {
    if (err == 0) err = sync_range(*range.map, range.from, range.to);
    if (err != 0) {
      map = range.map;
      from = range.from;
      to = range.to;
      break;
    }
  }
  if (err == 0) err = sync_range(*map, from, to);
  Status result;
  {
    MutexLock lock(mutex_);
    if (err != 0) {
      result = os_failure(err, map->path(), fmt::format("sync of bytes [{}, {})", from, to));
      result = Failure{Errc::io_error, result.message()};
      fail_locked(result.failure(), to_fire);
    } else {
      if (segments_.back().base_offset == base) {
        synced_position_ = std::max(synced_position_, to);
      }
      collect_synced_locked(target, to_fire);
    }
  }
  fire(to_fire);
  return result;
}

Status SegmentLog::sync_tail_locked(Pending& to_fire) {
  Segment& active = segments_.back();
  if (active.end_position > synced_position_) {
    const int err = sync_range(*active.writable, synced_position_, active.end_position);
    if (err != 0) {
      Failure failure{Errc::io_error, os_failure(err, active.path.string(),
                                                 fmt::format("sync of bytes [{}, {})",
                                                             synced_position_, active.end_position))
                                          .message};
      fail_locked(failure, to_fire);
      return failure;
    }
    synced_position_ = active.end_position;
  }
  unsynced_bytes_.store(0, std::memory_order_relaxed);
  unsynced_since_ns_.store(0, std::memory_order_relaxed);
  collect_synced_locked(active.end_offset, to_fire);
  return {};
}

Status SegmentLog::roll_locked(Pending& to_fire) {
  if (options_.durability != Durability::none) {
    if (auto status = sync_tail_locked(to_fire); !status) return status;
  } else if (segments_.back().end_position > synced_position_) {
    // No sync under the lock for `none`; an explicit sync() later covers this range too.
    unsynced_sealed_.push_back(
        {segments_.back().writable, synced_position_, segments_.back().end_position});
  }
  Segment next;
  next.base_offset = next.end_offset = segments_.back().end_offset;
  next.path = dir_ / segment::file_name(next.base_offset);
  if (auto status = open_active(next, true); !status) return status;
  segments_.back().writable.reset();  // sealed: read through the LRU from now on
  segments_.push_back(std::move(next));
  set_segment_count_locked();
  synced_position_ = segment::kFileHeaderSize;
  return {};
}

void SegmentLog::fail_locked(Failure failure, Pending& to_fire) {
  // Told once, after the lock is released, with the pending completions.
  if (options_.on_failure && !failed_.load(std::memory_order_relaxed)) {
    to_fire.emplace_back(options_.on_failure, Status(failure));
  }
  failure_ = failure;
  failed_.store(true, std::memory_order_release);  // pairs with the acquire in read_only()
  for (auto& [offset, done] : waiting_) to_fire.emplace_back(std::move(done), Status(failure));
  waiting_.clear();
}

void SegmentLog::collect_synced_locked(std::uint64_t synced, Pending& to_fire) {
  if (synced > synced_offset_.load(std::memory_order_relaxed)) {
    synced_offset_.store(synced, std::memory_order_release);  // pairs with synced_offset()
  }
  while (!waiting_.empty() && waiting_.front().first < synced) {
    to_fire.emplace_back(std::move(waiting_.front().second), Status{});
    waiting_.pop_front();
  }
}

void SegmentLog::fire(Pending& pending) noexcept {
  for (auto& [done, status] : pending) {
    if (done) done(status);
  }
  pending.clear();
}

// ---------------------------------------------------------------------------------------------
// Reads

Result<std::shared_ptr<const Mapping>> SegmentLog::mapping_locked(const Segment& segment) const {
  if (segment.writable) return std::shared_ptr<const Mapping>(segment.writable);
  for (auto it = read_cache_.begin(); it != read_cache_.end(); ++it) {
    if (it->first == segment.base_offset) {
      read_cache_.splice(read_cache_.begin(), read_cache_, it);
      return it->second;
    }
  }
  const std::string path = segment.path.string();
  auto fd = FileHandle::open(segment.path, O_RDONLY, 0, options_.faults);
  if (!fd) return fd.failure();
  auto size = file_size(fd->get(), path, options_.faults);
  if (!size) return size.failure();
  if (*size < segment.end_position) {
    return Failure{Errc::corrupt, fmt::format("{}: file shrank to {} bytes below its last record "
                                              "end at {}",
                                              path, *size, segment.end_position)};
  }
  auto map = Mapping::map(fd->get(), *size, false, path, options_.faults);
  if (!map) return map.failure();
  read_cache_.emplace_front(segment.base_offset, std::move(*map));
  while (read_cache_.size() > options_.max_read_mappings) read_cache_.pop_back();
  return read_cache_.front().second;
}

Result<ReadBatch> SegmentLog::read(std::uint64_t from, std::size_t max_records,
                                   std::size_t max_bytes) const {
  ReadBatch batch;
  batch.next_offset = from;
  std::size_t bytes = 0;
  while (batch.records.size() < max_records && (batch.records.empty() || bytes < max_bytes)) {
    auto window = window_at(batch);
    if (!window) return window.failure();
    if (!*window) break;  // the end of the log, or retention raced a batch already begun
    if (auto status = read_window(**window, batch, max_records, max_bytes, bytes); !status) {
      return status.failure();
    }
  }
  return batch;
}

Result<std::optional<SegmentLog::ReadWindow>> SegmentLog::window_at(ReadBatch& batch) const {
  MutexLock lock(mutex_);
  std::uint64_t& next = batch.next_offset;
  const std::uint64_t start = segments_.front().base_offset;
  const std::uint64_t end = segments_.back().end_offset;
  if (next < start) {
    // Retention raced this read: return what we have.
    if (!batch.records.empty()) return std::optional<ReadWindow>();
    return Failure{Errc::out_of_range,
                   fmt::format("{}: offset {} is below the log start {} (removed by retention "
                               "or acknowledged)",
                               dir_.string(), next, start)};
  }
  if (next > end) {
    return Failure{Errc::out_of_range,
                   fmt::format("{}: offset {} is past the log end {}", dir_.string(), next, end)};
  }
  for (;;) {
    if (next == end) return std::optional<ReadWindow>();
    auto it = std::upper_bound(
        segments_.begin(), segments_.end(), next,
        [](std::uint64_t offset, const Segment& s) { return offset < s.base_offset; });
    const Segment& seg = *std::prev(it);
    if (next >= seg.end_offset) {
      // In a gap between segments (salvage skipped the end of this one): go to the next.
      next = it->base_offset;  // `it` exists: next < end of the log
      continue;
    }
    auto mapped = mapping_locked(seg);
    if (!mapped) return mapped.failure();
    ReadWindow window;
    window.map = std::move(*mapped);
    window.limit = seg.end_position;
    window.segment_end = seg.end_offset;
    window.holes = seg.holes;
    auto entry = std::upper_bound(
        seg.index.begin(), seg.index.end(), next,
        [](std::uint64_t offset, const IndexEntry& e) { return offset < e.offset; });
    window.position =
        entry == seg.index.begin() ? segment::kFileHeaderSize : std::prev(entry)->position;
    return std::optional<ReadWindow>(std::move(window));
  }
}

Status SegmentLog::read_window(ReadWindow& window, ReadBatch& batch, std::size_t max_records,
                               std::size_t max_bytes, std::size_t& bytes) const {
  // Parse outside the lock: bytes below `limit` are published and never change.
  const std::byte* data = window.map->data();
  const std::size_t limit = window.limit;
  const auto& holes = window.holes;
  std::size_t position = window.position;
  std::size_t hole = 0;
  bool pinned = false;
  while (position < limit && batch.records.size() < max_records &&
         (batch.records.empty() || bytes < max_bytes)) {
    while (hole < holes.size() && holes[hole].second <= position) ++hole;
    if (hole < holes.size() && holes[hole].first <= position) {
      position = holes[hole].second;
      continue;
    }
    const auto size = load<std::uint32_t>(data + position + segment::kSizeOffset);
    if (size < segment::kRecordHeaderSize || size > limit - position ||
        crc32c({data + position + segment::kCrcCoverageBegin, size - segment::kCrcCoverageBegin}) !=
            load<std::uint32_t>(data + position + segment::kCrcOffset)) {
      return Failure{Errc::corrupt, fmt::format("{}: offset {}: record failed its check on read "
                                                "(size {})",
                                                window.map->path(), position, size)};
    }
    RecordView view{load<std::uint64_t>(data + position + segment::kOffsetOffset),
                    load<std::int64_t>(data + position + segment::kTimestampOffset),
                    {data + position + segment::kBodyOffset, size - segment::kRecordHeaderSize}};
    position += segment::align_up(size);
    if (view.offset < batch.next_offset) continue;
    batch.records.push_back(view);
    batch.next_offset = view.offset + 1;
    bytes += size;
    if (!pinned) {
      batch.pins.push_back(window.map);
      pinned = true;
    }
  }
  if (position >= limit) batch.next_offset = std::max(batch.next_offset, window.segment_end);
  return {};
}

Result<std::uint64_t> SegmentLog::offset_for_timestamp(std::int64_t timestamp_ns) const {
  std::uint64_t from = 0;
  {
    MutexLock lock(mutex_);
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [&](const Segment& s) { return s.max_timestamp >= timestamp_ns; });
    if (it == segments_.end()) return segments_.back().end_offset;
    from = it->base_offset;
  }
  for (;;) {
    auto batch = read(from, 1024, 1u << 20);
    if (!batch) return batch.failure();
    if (batch->records.empty()) return batch->next_offset;
    for (const auto& record : batch->records) {
      if (record.timestamp_ns >= timestamp_ns) return record.offset;
    }
    from = batch->next_offset;
  }
}

// ---------------------------------------------------------------------------------------------
// Compaction (the protocol: segment_log.hpp, `compact`)

namespace {
constexpr std::string_view kCleanedSuffix = ".cleaned";
constexpr std::string_view kSwapSuffix = ".swap";
}  // namespace

Status SegmentLog::finish_compaction() {
  auto entries = list_directory(dir_, options_.faults);
  if (!entries) return entries.failure();
  bool changed = false;
  for (const auto& entry : *entries) {
    const std::string name = entry.path().filename().string();
    std::uint64_t base = 0;
    if (name.ends_with(kCleanedSuffix) &&
        segment::parse_file_name(name.substr(0, name.size() - kCleanedSuffix.size()), base)) {
      if (auto removed = remove_file(entry.path(), options_.faults); !removed) return removed;
      recovery_.events.push_back(
          fmt::format("{}: removed an unfinished compaction output", entry.path().string()));
      changed = true;
    } else if (name.ends_with(kSwapSuffix) &&
               segment::parse_file_name(name.substr(0, name.size() - kSwapSuffix.size()), base)) {
      const auto target = dir_ / segment::file_name(base);
      if (auto renamed = rename_file(entry.path(), target, options_.faults); !renamed) {
        return renamed;
      }
      recovery_.events.push_back(
          fmt::format("{}: finished a compaction's swap (from {})", target.string(), name));
      changed = true;
    }
  }
  if (changed && options_.durability != Durability::none) {
    return sync_directory(dir_, options_.faults);
  }
  return {};
}

struct SegmentLog::CompactGroup {
  std::uint64_t base = 0;  // offsets covered: [base, end)
  std::uint64_t end = 0;
  std::vector<std::uint64_t> bases;  // the sealed segments it replaces
  std::vector<std::byte> image;      // the compacted segment file, header first
  std::uint64_t bytes_before = 0;
  std::uint64_t records_removed = 0;
};

Result<CompactionStats> SegmentLog::compact(const KeepRecord& keep) {
  MutexLock one(compact_mutex_);
  struct Source {
    std::uint64_t base, end;
    std::size_t end_position;
    std::shared_ptr<const Mapping> map;
  };
  std::vector<Source> sealed;
  {
    MutexLock lock(mutex_);
    if (failure_) return Failure{Errc::io_error, dir_.string() + ": read-only after a failed sync"};
    for (std::size_t i = 0; i + 1 < segments_.size(); ++i) {
      auto map = mapping_locked(segments_[i]);
      if (!map) return map.failure();
      sealed.push_back({segments_[i].base_offset, segments_[i].end_offset,
                        segments_[i].end_position, std::move(*map)});
    }
  }
  CompactionStats stats;
  CompactGroup group;
  auto flush = [&]() -> Status {
    if (group.bases.empty()) return {};
    Status status;
    if (group.bases.size() > 1 || group.records_removed > 0) status = swap_in(group, stats);
    group = CompactGroup{};
    return status;
  };
  for (const Source& source : sealed) {
    std::vector<RecordView> kept;
    std::size_t kept_bytes = 0;
    std::uint64_t removed = 0;
    auto scan = scan_segment(source.map->bytes().first(source.end_position), source.map->path(),
                             {.salvage = options_.salvage, .probe_after_damage = false},
                             [&](const RecordView& record, std::size_t) {
                               if (keep(record)) {
                                 kept.push_back(record);
                                 kept_bytes += segment::record_footprint(record.body.size());
                               } else {
                                 ++removed;
                               }
                             });
    if (!scan) return scan.failure();
    if (scan->damaged && !options_.salvage) {
      return Failure{Errc::corrupt, fmt::format("{}: offset {}: {} (compaction read)",
                                                source.map->path(), scan->damage_at, scan->damage)};
    }
    const bool fits = group.image.size() + kept_bytes <= options_.segment_bytes &&
                      source.end - group.base < (std::uint64_t{1} << 32);
    if (!group.bases.empty() && !fits) {
      if (auto status = flush(); !status) return status.failure();
    }
    if (group.bases.empty()) {
      group.base = source.base;
      group.image.assign(segment::kFileHeaderSize, std::byte{0});
    }
    for (const RecordView& record : kept) {
      const std::size_t at = group.image.size();
      group.image.resize(at + segment::record_footprint(record.body.size()));
      write_record(std::span(group.image).subspan(at), record.offset, record.timestamp_ns,
                   record.body);
    }
    group.end = source.end;
    group.bases.push_back(source.base);
    group.bytes_before += source.end_position - segment::kFileHeaderSize;
    group.records_removed += removed;
  }
  if (auto status = flush(); !status) return status.failure();
  return stats;
}

Status SegmentLog::swap_in(const CompactGroup& group, CompactionStats& stats) {
  FaultInjector* const faults = options_.faults;
  const bool sync = options_.durability != Durability::none;
  const auto final_path = dir_ / segment::file_name(group.base);
  auto cleaned = final_path;
  cleaned += kCleanedSuffix;
  auto swap = final_path;
  swap += kSwapSuffix;

  // 1. The compacted segment, complete and synced under a name recovery deletes.
  std::vector<std::byte> image = group.image;
  SegmentHeader header;
  header.base_offset = group.base;
  header.created_ns = options_.clock->wall_now().time_since_epoch().count();
  header.owner = options_.owner;
  header.compacted_span = static_cast<std::uint32_t>(group.end - group.base);
  write_segment_header(image, header);
  if (auto written = write_file(cleaned, image, faults); !written) {
    (void)remove_file(cleaned, faults);
    return written;
  }
  // 2. The commit point: from here on recovery finishes the swap.
  if (auto renamed = rename_file(cleaned, swap, faults); !renamed) {
    (void)remove_file(cleaned, faults);
    return renamed;
  }
  if (sync) {
    if (auto synced = sync_directory(dir_, faults); !synced) return synced;
  }
  // The new segment's index, built before it is published.
  Segment seg;
  seg.base_offset = group.base;
  seg.path = final_path;
  seg.compacted = true;
  auto scan =
      scan_segment(image, swap.string(), {.salvage = false, .probe_after_damage = false},
                   // `seg` is this thread's until it is published below.
                   [&](const RecordView& record, std::size_t position)
                       NO_THREAD_SAFETY_ANALYSIS { note_record_locked(seg, record, position); });
  if (!scan) return scan.failure();
  seg.end_offset = group.end;
  // 3. Swap, under the lock: no reader opens a file by this name meanwhile.
  {
    MutexLock lock(mutex_);
    auto first = std::find_if(segments_.begin(), segments_.end(),
                              [&](const Segment& s) { return s.base_offset == group.base; });
    const auto index = static_cast<std::size_t>(first - segments_.begin());
    bool present = first != segments_.end() && index + group.bases.size() < segments_.size();
    for (std::size_t k = 0; present && k < group.bases.size(); ++k) {
      present = segments_[index + k].base_offset == group.bases[k];
    }
    if (!present) {
      // Retention removed part of the group since the pass began: drop this output (the swap
      // file is what recovery would finish, so it goes before the lock is released).
      (void)remove_file(swap, faults);
      return {};
    }
    if (auto renamed = rename_file(swap, final_path, faults); !renamed) return renamed;
    std::erase_if(read_cache_, [&](const auto& e) {
      return std::find(group.bases.begin(), group.bases.end(), e.first) != group.bases.end();
    });
    segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(index) + 1,
                    segments_.begin() + static_cast<std::ptrdiff_t>(index + group.bases.size()));
    segments_[index] = std::move(seg);
    set_segment_count_locked();
  }
  // 4. The merged segments go; recovery removes them too if this is cut short.
  if (sync) {
    if (auto synced = sync_directory(dir_, faults); !synced) return synced;
  }
  for (std::size_t k = 1; k < group.bases.size(); ++k) {
    if (auto removed = remove_file(dir_ / segment::file_name(group.bases[k]), faults); !removed) {
      return removed;
    }
    if (counters_) counters_->add(counters_->segments_deleted, 1);
  }
  if (sync) {
    if (auto synced = sync_directory(dir_, faults); !synced) return synced;
  }
  stats.segments_rewritten += group.bases.size();
  stats.segments_written += 1;
  stats.records_removed += group.records_removed;
  stats.bytes_before += group.bytes_before;
  stats.bytes_after += image.size() - segment::kFileHeaderSize;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Retention and truncation

Status SegmentLog::delete_front_locked(std::size_t count) {
  if (count == 0) return {};
  Status removed;
  for (std::size_t i = 0; i < count && removed; ++i) {
    const Segment& seg = segments_.front();
    std::erase_if(read_cache_, [&](const auto& e) { return e.first == seg.base_offset; });
    removed = remove_file(seg.path, options_.faults);
    if (!removed) break;
    segments_.pop_front();
    if (counters_) counters_->add(counters_->segments_deleted, 1);
  }
  // The segments that did go are gone from the index too, whatever failed after them.
  set_segment_count_locked();
  start_offset_.store(segments_.front().base_offset, std::memory_order_release);
  if (!removed) return removed;
  if (options_.durability != Durability::none) return sync_directory(dir_, options_.faults);
  return {};
}

Result<std::size_t> SegmentLog::apply_retention(const RetentionPolicy& policy) {
  MutexLock lock(mutex_);
  const std::int64_t now = options_.clock->wall_now().time_since_epoch().count();
  std::uint64_t records = segments_.back().end_offset - segments_.front().base_offset;
  std::uint64_t bytes = 0;
  for (const auto& seg : segments_) bytes += seg.end_position - segment::kFileHeaderSize;
  std::size_t count = 0;
  while (segments_.size() - count > 1) {
    const Segment& seg = segments_[count];
    const std::uint64_t seg_records = seg.end_offset - seg.base_offset;
    const std::uint64_t seg_bytes = seg.end_position - segment::kFileHeaderSize;
    const bool drop = (policy.max_records != 0 && records - seg_records >= policy.max_records) ||
                      (policy.max_bytes != 0 && bytes - seg_bytes >= policy.max_bytes) ||
                      (policy.max_age.count() > 0 &&
                       deadline_ns(seg.max_timestamp, policy.max_age.count()) < now);
    if (!drop) break;
    records -= seg_records;
    bytes -= seg_bytes;
    ++count;
  }
  if (auto status = delete_front_locked(count); !status) return status.failure();
  return count;
}

Result<std::size_t> SegmentLog::truncate_prefix(std::uint64_t offset, PrefixLeft* left) {
  MutexLock lock(mutex_);
  std::size_t count = 0;
  while (segments_.size() - count > 1 && segments_[count].end_offset <= offset) ++count;
  if (auto status = delete_front_locked(count); !status) return status.failure();
  if (left != nullptr) {
    left->segments = segments_.size();
    left->next_end = segments_.size() > 1 ? segments_.front().end_offset
                                          : std::numeric_limits<std::uint64_t>::max();
  }
  return count;
}

std::size_t SegmentLog::mapped_segments() const {
  MutexLock lock(mutex_);
  return read_cache_.size() + 1;
}

std::uint64_t SegmentLog::size_bytes() const {
  MutexLock lock(mutex_);
  std::uint64_t bytes = 0;
  for (const auto& seg : segments_) bytes += seg.end_position - segment::kFileHeaderSize;
  return bytes;
}

}  // namespace switchyard::detail
