// benchmarks/alloc_counter.cpp — counting malloc family (see alloc_counter.hpp).
//
// glibc exports its allocator under __libc_* names for exactly this use; the definitions
// below take precedence over libc's for every library in the process (symbol interposition).
// free() is not interposed: glibc's free accepts whatever glibc's allocator returned.
#include "alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include <switchyard/detail/cache_line.hpp>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
}

namespace switchyard_bench {
namespace {

constexpr std::size_t kSlots = 32;
constexpr std::size_t kUnassigned = ~std::size_t{0};

struct alignas(switchyard::detail::kCacheLine) Slot {
  std::atomic<std::uint64_t> count{0};
};

constinit Slot g_slots[kSlots];
constinit std::atomic<std::size_t> g_next_slot{0};
// Constant-initialized so the first touch from inside malloc needs no initialization code.
constinit thread_local std::size_t t_slot = kUnassigned;

void count_one() noexcept {
  if (t_slot == kUnassigned) t_slot = g_next_slot.fetch_add(1, std::memory_order_relaxed) % kSlots;
  // Relaxed: statistics; readers synchronize with the allocating threads through the
  // benchmark's own latch or join.
  g_slots[t_slot].count.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::uint64_t allocation_count() noexcept {
  std::uint64_t total = 0;
  for (const Slot& s : g_slots) total += s.count.load(std::memory_order_relaxed);
  return total;
}

}  // namespace switchyard_bench

using switchyard_bench::count_one;

extern "C" {

void* malloc(std::size_t size) {
  count_one();
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) {
  count_one();
  return __libc_calloc(count, size);
}

void* realloc(void* p, std::size_t size) {
  count_one();
  return __libc_realloc(p, size);
}

void* memalign(std::size_t align, std::size_t size) {
  count_one();
  return __libc_memalign(align, size);
}

void* aligned_alloc(std::size_t align, std::size_t size) {
  count_one();
  return __libc_memalign(align, size);
}

int posix_memalign(void** out, std::size_t align, std::size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  count_one();
  void* p = __libc_memalign(align, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
