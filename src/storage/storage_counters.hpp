// src/storage/storage_counters.hpp — what the segment logs of one broker did: bytes and records
// appended, syncs and their latency, segments created, deleted and open, recoveries.
//
// Data structure: relaxed atomics, and a LatencyRecorder for sync latency. One instance per
// broker with a data directory (StorageContext owns it), shared by every SegmentLog it opens
// (`SegmentLogOptions::counters`; a log without one counts nothing).
//
// Threads: any log's appender, flusher or recovery bumps them, without a lock of their own (an
// appender already holds its log's append mutex; the counters never take another). `stats()`
// reads them from any thread, lock-free. Relaxed everywhere: each counter is exact on its own
// and orders nothing else. The append counters sit on their own cache line, away from the
// sync and segment ones, which the flusher writes.
#pragma once

#include <atomic>
#include <cstdint>

#include "switchyard/detail/cache_line.hpp"
#include "switchyard/stats.hpp"
#include "util/latency_recorder.hpp"

namespace switchyard::detail {

struct StorageCounters {
  // Written by appenders (under their log's mutex, so one writer per log at a time).
  alignas(kCacheLine) std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> records_written{0};
  // Written by syncs (flusher, `always` appenders, rolls), segment changes and recovery.
  alignas(kCacheLine) std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> sync_failures{0};
  std::atomic<std::uint64_t> segments{0};  // open now: each log adds its count, and takes it back
  std::atomic<std::uint64_t> segments_created{0};
  std::atomic<std::uint64_t> segments_deleted{0};
  std::atomic<std::uint64_t> logs_recovered{0};
  std::atomic<std::uint64_t> recovery_events{0};
  LatencyRecorder sync_latency;

  void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  /// The counters now. @note threadsafe, lock-free; not one atomic reading
  [[nodiscard]] StorageStats stats() const noexcept {
    auto load = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    StorageStats s;
    s.bytes_written = load(bytes_written);
    s.records_written = load(records_written);
    s.syncs = load(syncs);
    s.sync_failures = load(sync_failures);
    s.sync_latency = sync_latency.snapshot();
    s.segments = load(segments);
    s.segments_created = load(segments_created);
    s.segments_deleted = load(segments_deleted);
    s.logs_recovered = load(logs_recovered);
    s.recovery_events = load(recovery_events);
    return s;
  }
};

}  // namespace switchyard::detail
