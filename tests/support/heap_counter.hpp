// tests/support/heap_counter.hpp — counts every plain heap allocation of the test program that
// includes it, so a test can check that a steady loop allocates nothing.
//
// Include it from exactly one source file of a test executable: it replaces the global
// `operator new` / `operator delete`. Not under sanitizers (SWITCHYARD_SANITIZER_BUILD): they
// bring their own operator new, and mixing the two is reported as an alloc/dealloc mismatch;
// there `heap_allocations` stays 0 and `kCountsHeapAllocations` is false.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace switchyard::test {
inline std::atomic<std::uint64_t> heap_allocations{0};
#ifdef SWITCHYARD_SANITIZER_BUILD
inline constexpr bool kCountsHeapAllocations = false;
#else
inline constexpr bool kCountsHeapAllocations = true;
#endif
}  // namespace switchyard::test

#ifndef SWITCHYARD_SANITIZER_BUILD
// GCC sees the library's `operator new` call inlined next to our `free` and reports a mismatched
// new/delete; the replacements are paired (malloc with free), so the warning is a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  // A counter only: no ordering needed.
  switchyard::test::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop
#endif
