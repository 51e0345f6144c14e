// The in-memory partition log. Data structures and threading: src/durable/partition_log.hpp.
#include "durable/partition_log.hpp"
#include "switchyard/detail/deadline.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <limits>
#include <string_view>
#include <unordered_map>

namespace switchyard::detail {

namespace {

std::uint32_t record_bytes(const Message& m) noexcept {
  const std::uint64_t n = m.key().size() + m.payload().size();
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
}
}  // namespace

std::uint32_t MemoryPartitionLog::chunk_capacity(const Retention& retention) noexcept {
  constexpr std::uint64_t kMax = 1024;
  if (retention.records == 0) return kMax;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(retention.records / 4, 1, kMax));
}

MemoryPartitionLog::MemoryPartitionLog(std::uint32_t partition, Retention retention)
    : partition_(partition),
      retention_(retention),
      chunk_capacity_(chunk_capacity(retention)),
      chunk_bytes_(retention.bytes == 0 ? std::numeric_limits<std::uint64_t>::max()
                                        : std::max<std::uint64_t>(retention.bytes / 4, 1)) {}

MemoryPartitionLog::~MemoryPartitionLog() = default;

Result<std::uint64_t> MemoryPartitionLog::append(Message&& message, std::int64_t now_ns,
                                                 Completion done) noexcept {
  const std::uint32_t bytes = record_bytes(message);
  UniqueLock lock(append_mutex_);
  // Relaxed: only appenders (serialised by append_mutex_) write end_offset_.
  const std::uint64_t offset = end_offset_.load(std::memory_order_relaxed);
  if (tail_ == nullptr || tail_sealed_) {
    std::shared_ptr<Chunk> chunk;
    try {
      chunk = std::make_shared<Chunk>(offset, chunk_capacity_);
      MutexLock directory(directory_mutex_);
      chunks_.push_back(chunk);
    } catch (const std::bad_alloc&) {
      return Result<std::uint64_t>(Errc::out_of_memory);
    }
    tail_ = chunk.get();
    tail_count_ = 0;
    tail_bytes_ = 0;
    tail_sealed_ = false;
  }
  Chunk& chunk = *tail_;
  Slot& slot = chunk.slot[tail_count_];
  slot.message = std::move(message);
  // Record times never go backwards along the log (send stamps of concurrent producers may):
  // retention by age looks only at the oldest record.
  if (now_ns < last_appended_ns_) now_ns = last_appended_ns_;
  last_appended_ns_ = now_ns;
  slot.appended_ns = now_ns;
  slot.bytes = bytes;
  tail_bytes_ += bytes;
  ++tail_count_;
  if (tail_count_ == chunk.capacity || tail_bytes_ >= chunk_bytes_) {
    tail_sealed_ = true;
    // Release: a reader that sees a record of the next chunk in end_offset_ (acquire) sees
    // this too (the next append's end_offset_ store comes after it).
    chunk.sealed_count.store(tail_count_, std::memory_order_release);
  }
  // Release: pairs with end_offset()'s acquire in waiters and readers.
  end_offset_.store(offset + 1, std::memory_order_release);
  retained_bytes_ += bytes;
  appended_bytes_ += bytes;
  ++retained_records_;
  if (offset == start_offset_.load(std::memory_order_relaxed) && retention_.age.count() > 0) {
    next_expiry_ns_.store(deadline_ns(now_ns, retention_.age.count()), std::memory_order_relaxed);
  }
  retain_locked(now_ns);
  lock.unlock();
  if (done) done(Status{});
  return offset;
}

const MemoryPartitionLog::Slot* MemoryPartitionLog::slot_locked(
    std::uint64_t offset) const noexcept {
  // Chunks are contiguous: the last chunk whose base is at or below `offset` covers it.
  auto it = std::upper_bound(
      chunks_.begin(), chunks_.end(), offset,
      [](std::uint64_t o, const std::shared_ptr<Chunk>& c) { return o < c->base; });
  const Chunk& chunk = **std::prev(it);
  if (!chunk.compacted) return &chunk.slot[offset - chunk.base];
  auto at = std::lower_bound(chunk.offsets.begin(), chunk.offsets.end(), offset);
  if (at == chunk.offsets.end() || *at != offset) return nullptr;
  return &chunk.slot[at - chunk.offsets.begin()];
}

std::uint64_t MemoryPartitionLog::chunk_end_locked(const Chunk& chunk) const noexcept {
  if (chunk.compacted) return chunk.cover_end;
  return chunk.base + (&chunk == tail_ && !tail_sealed_
                           ? tail_count_
                           : chunk.sealed_count.load(std::memory_order_relaxed));
}

std::uint64_t MemoryPartitionLog::next_present_locked(std::uint64_t offset) const noexcept {
  const std::uint64_t end = end_offset_.load(std::memory_order_relaxed);
  while (offset < end) {
    auto it = std::upper_bound(
        chunks_.begin(), chunks_.end(), offset,
        [](std::uint64_t o, const std::shared_ptr<Chunk>& c) { return o < c->base; });
    const Chunk& chunk = **std::prev(it);
    if (!chunk.compacted) return offset;
    auto at = std::lower_bound(chunk.offsets.begin(), chunk.offsets.end(), offset);
    if (at != chunk.offsets.end()) return *at;
    offset = chunk.cover_end;
  }
  return end;
}

void MemoryPartitionLog::retain_locked(std::int64_t now_ns) noexcept {
  const std::uint64_t end = end_offset_.load(std::memory_order_relaxed);
  std::uint64_t start = start_offset_.load(std::memory_order_relaxed);
  const std::uint64_t old_start = start;
  const std::int64_t age = retention_.age.count();
  // Fast path (every append): no limit broken. next_expiry_ns_ is exact under append_mutex_
  // (the oldest record's time + age), so no slot needs looking at.
  if ((retention_.records == 0 || retained_records_ <= retention_.records) &&
      (retention_.bytes == 0 || retained_bytes_ <= retention_.bytes) &&
      now_ns < next_expiry_ns_.load(std::memory_order_relaxed)) {
    return;
  }
  for (start = next_present_locked(start); start < end; start = next_present_locked(start)) {
    const Slot& oldest = *slot_locked(start);
    const bool too_many = retention_.records != 0 && retained_records_ > retention_.records;
    const bool too_big = retention_.bytes != 0 && retained_bytes_ > retention_.bytes;
    const bool too_old = age > 0 && deadline_ns(oldest.appended_ns, age) <= now_ns;
    if (!too_many && !too_big && !too_old) break;
    retained_bytes_ -= oldest.bytes;
    --retained_records_;
    ++start;
  }
  if (start == old_start) return;
  next_expiry_ns_.store(
      start < end && age > 0 ? deadline_ns(slot_locked(start)->appended_ns, age) : kNever,
      std::memory_order_relaxed);
  // Release: pairs with start_offset()'s acquire; a reader that sees the new start and then
  // misses a chunk in the directory knows it is gone.
  start_offset_.store(start, std::memory_order_release);
  std::vector<std::shared_ptr<Chunk>> dead;  // destroyed outside the directory lock
  {
    MutexLock directory(directory_mutex_);
    while (!chunks_.empty()) {
      Chunk& front = *chunks_.front();
      if (chunk_end_locked(front) > start) break;
      if (&front == tail_) tail_ = nullptr;
      dead.push_back(std::move(chunks_.front()));
      chunks_.pop_front();
    }
  }
}

void MemoryPartitionLog::expire(std::int64_t now_ns) noexcept {
  if (now_ns < next_expiry_ns_.load(std::memory_order_relaxed)) return;
  MutexLock lock(append_mutex_);
  retain_locked(now_ns);
}

std::shared_ptr<const MemoryPartitionLog::Chunk> MemoryPartitionLog::find_chunk(std::uint64_t offset) const {
  SharedLock directory(directory_mutex_);
  if (chunks_.empty() || offset < chunks_.front()->base) return nullptr;
  auto it = std::upper_bound(
      chunks_.begin(), chunks_.end(), offset,
      [](std::uint64_t o, const std::shared_ptr<Chunk>& c) { return o < c->base; });
  return *std::prev(it);
}

PartitionLog::Read MemoryPartitionLog::read(std::uint64_t from, std::size_t max,
                                   std::vector<Record>& out) const {
  Read result{from, 0};
  std::uint64_t pos = from;
  std::size_t taken = 0;
  while (taken < max) {
    const std::uint64_t start = start_offset();
    if (pos < start) {
      result.missed += start - pos;
      pos = start;
    }
    // Acquire: pairs with append's release; every slot below `end` is written.
    const std::uint64_t end = end_offset();
    if (pos >= end) break;
    auto chunk = find_chunk(pos);
    if (!chunk) continue;  // retention dropped it since we read start: re-read start
    if (chunk->compacted) {
      // Step over the holes: the next record at or after pos, else the chunk's end.
      auto at = std::lower_bound(chunk->offsets.begin(), chunk->offsets.end(), pos);
      for (; at != chunk->offsets.end() && taken < max && *at < end; ++at, ++taken) {
        out.push_back(Record{chunk->slot[at - chunk->offsets.begin()].message, partition_, *at});
        pos = *at + 1;
      }
      if (at == chunk->offsets.end()) pos = std::max(pos, std::min(chunk->cover_end, end));
      continue;
    }
    // Where the chunk ends: its final count once sealed, else as far as it can hold. Read
    // after `end`: if `end` is past a sealed chunk, its seal (stored before any later append)
    // is visible (acquire pairs with the seal's release).
    const std::uint32_t sealed = chunk->sealed_count.load(std::memory_order_acquire);
    const std::uint64_t chunk_end =
        std::min<std::uint64_t>(chunk->base + (sealed != 0 ? sealed : chunk->capacity), end);
    if (pos >= chunk_end) break;  // cannot happen (the chunk holds pos); defensive
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk_end - pos, max - taken));
    for (std::size_t i = 0; i < n; ++i, ++pos) {
      out.push_back(Record{chunk->slot[pos - chunk->base].message, partition_, pos});
    }
    taken += n;
  }
  result.next = pos;
  return result;
}

std::uint64_t MemoryPartitionLog::offset_for_time(Timestamp time) const {
  MutexLock lock(append_mutex_);
  const std::uint64_t end = end_offset_.load(std::memory_order_relaxed);
  for (std::uint64_t o = next_present_locked(start_offset_.load(std::memory_order_relaxed));
       o < end; o = next_present_locked(o + 1)) {
    if (slot_locked(o)->message.timestamp() >= time) return o;
  }
  return end;
}

PartitionStats MemoryPartitionLog::stats() const {
  MutexLock lock(append_mutex_);
  PartitionStats s;
  s.partition = partition_;
  s.start_offset = start_offset_.load(std::memory_order_relaxed);
  s.end_offset = end_offset_.load(std::memory_order_relaxed);
  s.appended = s.end_offset;
  s.bytes = retained_bytes_;
  s.appended_bytes = appended_bytes_;
  s.compacted_away = compacted_away_;
  return s;
}

Result<std::uint64_t> MemoryPartitionLog::compact(std::int64_t now_ns,
                                                  std::int64_t delete_retention_ns) noexcept try {
  MutexLock lock(append_mutex_);
  std::vector<std::shared_ptr<Chunk>> snapshot;
  {
    SharedLock directory(directory_mutex_);
    snapshot.assign(chunks_.begin(), chunks_.end());
  }
  // The last chunk (open, or the newest sealed one) is never compacted, as Kafka's active
  // segment is not.
  if (snapshot.size() < 2) return std::uint64_t{0};
  const std::uint64_t start = start_offset_.load(std::memory_order_relaxed);
  // Every record below sealed_end is in a sealed chunk (snapshot[0 .. n-2]).
  const std::uint64_t sealed_end = snapshot.back()->base;
  std::vector<std::uint64_t> ends;  // each snapshot chunk's end (read under the lock, here)
  ends.reserve(snapshot.size());
  for (const auto& chunk : snapshot) ends.push_back(chunk_end_locked(*chunk));
  auto each_record = [&](std::size_t c, auto&& fn) {
    const Chunk& chunk = *snapshot[c];
    const std::uint64_t chunk_end = ends[c];
    if (chunk.compacted) {
      for (std::size_t i = 0; i < chunk.offsets.size(); ++i) fn(chunk.offsets[i], chunk.slot[i]);
    } else {
      for (std::uint64_t o = chunk.base; o < chunk_end; ++o) fn(o, chunk.slot[o - chunk.base]);
    }
  };
  // The latest offset of every key, over the whole log (the open chunk included).
  std::unordered_map<std::string_view, std::uint64_t> latest;
  for (std::size_t c = 0; c < snapshot.size(); ++c) {
    each_record(c, [&](std::uint64_t o, const Slot& slot) {
      if (o >= start && !slot.message.key().empty()) latest[slot.message.key()] = o;
    });
  }
  auto keep = [&](std::uint64_t o, const Slot& slot) {
    const Message& m = slot.message;
    if (m.key().empty()) return true;
    if (latest[m.key()] != o) return false;
    return !(is_tombstone(m.payload().size(), m.headers()) &&
             deadline_ns(slot.appended_ns, delete_retention_ns) <= now_ns);
  };
  std::uint64_t removed = 0, removed_bytes = 0;
  for (std::size_t c = 0; c + 1 < snapshot.size(); ++c) {
    each_record(c, [&](std::uint64_t o, const Slot& slot) {
      if (o >= start && !keep(o, slot)) {
        ++removed;
        removed_bytes += slot.bytes;
      }
    });
  }
  if (removed == 0) return std::uint64_t{0};
  // The sealed range again, as compacted chunks of up to chunk_capacity_ records; chunk k
  // covers [its base, the next one's base), the first from the old first chunk's base.
  std::vector<std::shared_ptr<Chunk>> rebuilt;
  auto open_chunk = [&](std::uint64_t base) {
    auto chunk = std::make_shared<Chunk>(base, chunk_capacity_);
    chunk->compacted = true;
    chunk->offsets.reserve(chunk_capacity_);
    if (!rebuilt.empty()) rebuilt.back()->cover_end = base;
    rebuilt.push_back(std::move(chunk));
  };
  open_chunk(snapshot.front()->base);
  for (std::size_t c = 0; c + 1 < snapshot.size(); ++c) {
    each_record(c, [&](std::uint64_t o, const Slot& slot) {
      if (o < start || !keep(o, slot)) return;  // below start: retention's, never read again
      if (rebuilt.back()->offsets.size() == chunk_capacity_) open_chunk(o);
      Chunk& chunk = *rebuilt.back();
      chunk.slot[chunk.offsets.size()] = slot;
      chunk.offsets.push_back(o);
    });
  }
  rebuilt.back()->cover_end = sealed_end;
  for (auto& chunk : rebuilt) {
    chunk->sealed_count.store(static_cast<std::uint32_t>(chunk->offsets.size()),
                              std::memory_order_relaxed);
  }
  std::vector<std::shared_ptr<Chunk>> dead;  // destroyed outside the directory lock
  {
    // Release (the mutex): a reader that finds a rebuilt chunk sees it whole.
    MutexLock directory(directory_mutex_);
    const std::size_t replaced = snapshot.size() - 1;
    for (std::size_t i = 0; i < replaced; ++i) dead.push_back(std::move(chunks_[i]));
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(replaced));
    chunks_.insert(chunks_.begin(), rebuilt.begin(), rebuilt.end());
  }
  retained_bytes_ -= removed_bytes;
  retained_records_ -= removed;
  compacted_away_ += removed;
  return removed;
} catch (const std::bad_alloc&) {
  return Result<std::uint64_t>(Errc::out_of_memory);
}

}  // namespace switchyard::detail
