// benchmarks/alloc_counter.hpp — how many heap allocations the program has made.
//
// alloc_counter.cpp interposes glibc's malloc family (malloc, calloc, realloc, posix_memalign,
// aligned_alloc, memalign) in the benchmark binary and counts every call before forwarding it
// to glibc (__libc_malloc and friends). Every global operator new goes through malloc or
// aligned_alloc, so this counts C++ allocations and also those of C code (libzmq allocates its
// 64-byte messages with malloc). Counting costs one relaxed increment of a per-thread-slot
// counter: threads are spread over cache-line-sized slots, so producer and consumer threads do
// not share a line.
#pragma once

#include <cstdint>

namespace switchyard_bench {

/// Heap allocations made by every thread since the program started. Exact once the threads
/// that allocated have synchronized with the caller (a join or a latch). @note threadsafe
std::uint64_t allocation_count() noexcept;

}  // namespace switchyard_bench
