// benchmarks/memory_floor.cpp — queue_memory_1m: what kMemoryMessages 64-byte messages cost in
// memory while they sit in one queue. Counter bytes_per_message = growth of resident memory
// (/proc/self/statm) / kMemoryMessages, measured after malloc_trim so memory freed by earlier
// benchmarks is not silently reused; heap_bytes_per_message (mallinfo2) cross-checks it.
//
//   queue_memory_1m/mutex_deque   a std::deque<Message64> behind a std::mutex: the floor.
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>

#include "families.hpp"
#include "harness.hpp"
#include "memory_probe.hpp"

namespace switchyard_bench {
namespace {

void queue_memory_mutex_deque(benchmark::State& state) {
  for (auto _ : state) {
    const MemoryProbe probe;
    {
      std::mutex mutex;
      std::deque<Message64> queue;
      for (std::uint64_t i = 0; i < kMemoryMessages; ++i) {
        const std::lock_guard lock(mutex);
        queue.push_back(Message64{.seq = i, .body = {}});
      }
      probe.report(state, kMemoryMessages);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(kMemoryMessages * state.iterations()));
}

SWITCHYARD_BENCHMARK("queue_memory_1m/mutex_deque", queue_memory_mutex_deque)->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
