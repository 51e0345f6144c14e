// benchmarks/memory_probe.hpp — resident and heap memory growth between two moments, for the
// queue_memory_1m family (switchyard's side and its floor use the same probe).
#pragma once

#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>

#include "harness.hpp"

namespace switchyard_bench {

/// Resident set size of this process in bytes (/proc/self/statm), 0 if unreadable.
inline std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

/// Bytes the malloc heap has handed out and not yet taken back.
inline std::uint64_t heap_bytes() {
  const struct mallinfo2 info = ::mallinfo2();
  return info.uordblks + info.hblkhd;
}

/// Takes the baseline at construction (after returning free heap pages to the kernel);
/// report() sets bytes_per_message and heap_bytes_per_message from the growth since.
class MemoryProbe {
 public:
  MemoryProbe() {
    ::malloc_trim(0);
    resident_ = resident_bytes();
    heap_ = heap_bytes();
  }
  void report(benchmark::State& state, std::uint64_t messages) const {
    const auto per = [messages](std::uint64_t now, std::uint64_t then) {
      return now > then ? static_cast<double>(now - then) / static_cast<double>(messages) : 0.0;
    };
    state.counters["bytes_per_message"] = per(resident_bytes(), resident_);
    state.counters["heap_bytes_per_message"] = per(heap_bytes(), heap_);
  }

 private:
  std::uint64_t resident_ = 0;
  std::uint64_t heap_ = 0;
};

}  // namespace switchyard_bench
