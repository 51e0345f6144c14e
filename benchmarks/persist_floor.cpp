// benchmarks/persist_floor.cpp — the floors of the persistence families: what the hardware and
// the kernel allow before any log format, checksum or index is added. Files live under
// bench_dir() ($SWITCHYARD_BENCH_DIR, default /tmp); they must be on a real disk.
//
//   persist_append_1k/raw_mmap         kPersistRecords 1 KiB records memcpy'd into a fresh,
//                                      fallocated, MAP_SHARED file; no sync (durability none).
//                                      Creating, sizing and mapping the file is timed (a log
//                                      pays for its segments too); removing it is not.
//   persist_append_1k_group_commit/raw_mmap_fdatasync_batch
//                                      the same (kGroupCommitAppendRecords per iteration) plus
//                                      one fdatasync per kGroupCommitRecords records
//                                      (durability batch).
//   persist_recover_1g/memcpy          reads a recover_bytes() file (page-cache warm, written
//                                      once per process) through a read-only mapping, once.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

// Appends `records` records to a fresh mapped file; fdatasync every `sync_every` records
// (0: never). False on any system-call failure.
bool append_mapped(const TempPath& path, std::uint64_t records, std::size_t sync_every) {
  const std::size_t bytes = records * kRecordBytes;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)) == 0;
  void* map = ok ? ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  ok = ok && map != MAP_FAILED;
  if (ok) {
    auto* out = static_cast<std::byte*>(map);
    alignas(64) std::array<std::byte, kRecordBytes> record{};
    for (std::uint64_t i = 0; i < records; ++i) {
      fill_record(record.data(), i);
      std::memcpy(out + i * kRecordBytes, record.data(), kRecordBytes);
      if (sync_every != 0 && (i + 1) % sync_every == 0 && ::fdatasync(fd) != 0) ok = false;
    }
    ::munmap(map, bytes);
  }
  ::close(fd);
  return ok;
}

void persist_append_floor(benchmark::State& state, std::size_t sync_every) {
  const TempPath path(sync_every == 0 ? "append.log" : "append_sync.log");
  const std::uint64_t records = sync_every == 0 ? kPersistRecords : kGroupCommitAppendRecords;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    const std::uint64_t before = allocation_count();
    const bool ok = append_mapped(path, records, sync_every);
    allocations += allocation_count() - before;
    state.PauseTiming();
    ::unlink(path.c_str());
    state.ResumeTiming();
    if (!ok) {
      state.SkipWithError("open/fallocate/mmap/fdatasync failed (see bench_dir)");
      break;
    }
    items += records;
  }
  report_throughput(state, items, allocations);
  state.SetBytesProcessed(static_cast<std::int64_t>(items * kRecordBytes));
}

SWITCHYARD_BENCHMARK("persist_append_1k/raw_mmap", persist_append_floor, 0);
SWITCHYARD_BENCHMARK("persist_append_1k_group_commit/raw_mmap_fdatasync_batch",
                     persist_append_floor, kGroupCommitRecords);

// The recover_bytes() file read by the floor: written once per process, removed at exit.
const TempPath& recover_file() {
  static const TempPath path("recover.dat");
  static const bool written = [] {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::vector<std::byte> chunk(1 << 20);
    for (std::size_t i = 0; i < chunk.size(); i += kRecordBytes) fill_record(&chunk[i], i);
    bool ok = true;
    for (std::uint64_t left = recover_bytes(); ok && left > 0;) {
      const std::size_t n = left < chunk.size() ? static_cast<std::size_t>(left) : chunk.size();
      ok = ::write(fd, chunk.data(), n) == static_cast<ssize_t>(n);
      left -= n;
    }
    ::close(fd);
    return ok;
  }();
  (void)written;
  return path;
}

void persist_recover_memcpy(benchmark::State& state) {
  const TempPath& path = recover_file();
  std::vector<std::byte> sink(1 << 20);
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size == 0) {
      if (fd >= 0) ::close(fd);
      state.SkipWithError("recover file missing (see bench_dir)");
      break;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      state.SkipWithError("mmap failed");
      break;
    }
    const auto* in = static_cast<const std::byte*>(map);
    for (std::size_t off = 0; off < size; off += sink.size()) {
      const std::size_t n = size - off < sink.size() ? size - off : sink.size();
      std::memcpy(sink.data(), in + off, n);
      benchmark::DoNotOptimize(sink.data());
    }
    ::munmap(map, size);
    ::close(fd);
    bytes += size;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(bytes / kRecordBytes));
}

SWITCHYARD_BENCHMARK("persist_recover_1g/memcpy", persist_recover_memcpy);

}  // namespace
}  // namespace switchyard_bench
