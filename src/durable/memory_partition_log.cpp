// The in-memory partition log. Data structures and threading: src/durable/partition_log.hpp.
#include "durable/partition_log.hpp"
#include "switchyard/detail/deadline.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <limits>

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
  if (offset == start_offset_.load(std::memory_order_relaxed) && retention_.age.count() > 0) {
    next_expiry_ns_.store(deadline_ns(now_ns, retention_.age.count()), std::memory_order_relaxed);
  }
  retain_locked(now_ns);
  lock.unlock();
  if (done) done(Status{});
  return offset;
}

const MemoryPartitionLog::Slot& MemoryPartitionLog::slot_locked(std::uint64_t offset) const noexcept {
  // Chunks are contiguous: the first chunk whose end is above `offset` holds it.
  auto it = std::upper_bound(
      chunks_.begin(), chunks_.end(), offset,
      [](std::uint64_t o, const std::shared_ptr<Chunk>& c) { return o < c->base; });
  const Chunk& chunk = **std::prev(it);
  return chunk.slot[offset - chunk.base];
}

void MemoryPartitionLog::retain_locked(std::int64_t now_ns) noexcept {
  const std::uint64_t end = end_offset_.load(std::memory_order_relaxed);
  std::uint64_t start = start_offset_.load(std::memory_order_relaxed);
  const std::uint64_t old_start = start;
  const std::int64_t age = retention_.age.count();
  // Fast path (every append): no limit broken. next_expiry_ns_ is exact under append_mutex_
  // (the oldest record's time + age), so no slot needs looking at.
  if ((retention_.records == 0 || end - start <= retention_.records) &&
      (retention_.bytes == 0 || retained_bytes_ <= retention_.bytes) &&
      now_ns < next_expiry_ns_.load(std::memory_order_relaxed)) {
    return;
  }
  while (start < end) {
    const Slot& oldest = slot_locked(start);
    const bool too_many = retention_.records != 0 && end - start > retention_.records;
    const bool too_big = retention_.bytes != 0 && retained_bytes_ > retention_.bytes;
    const bool too_old = age > 0 && deadline_ns(oldest.appended_ns, age) <= now_ns;
    if (!too_many && !too_big && !too_old) break;
    retained_bytes_ -= oldest.bytes;
    ++start;
  }
  if (start == old_start) return;
  next_expiry_ns_.store(
      start < end && age > 0 ? deadline_ns(slot_locked(start).appended_ns, age) : kNever,
      std::memory_order_relaxed);
  // Release: pairs with start_offset()'s acquire; a reader that sees the new start and then
  // misses a chunk in the directory knows it is gone.
  start_offset_.store(start, std::memory_order_release);
  std::vector<std::shared_ptr<Chunk>> dead;  // destroyed outside the directory lock
  {
    MutexLock directory(directory_mutex_);
    while (!chunks_.empty()) {
      Chunk& front = *chunks_.front();
      const std::uint32_t count = &front == tail_ && !tail_sealed_
                                      ? tail_count_
                                      : front.sealed_count.load(std::memory_order_relaxed);
      if (front.base + count > start) break;
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
  for (std::uint64_t o = start_offset_.load(std::memory_order_relaxed); o < end; ++o) {
    if (slot_locked(o).message.timestamp() >= time) return o;
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
  return s;
}

}  // namespace switchyard::detail
