// src/sync/futex.hpp — sleep on a 32-bit atomic with a timeout (Linux futex).
//
// std::atomic::wait has no timeout, and every blocking call in switchyard has one, so we
// talk to the kernel directly. Both calls are safe to race: a wake that arrives before the
// wait makes the wait return at once (the kernel re-checks the word under its own lock).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace switchyard::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex needs std::atomic<uint32_t> to be a plain 32-bit word");

/// Sleeps while `word == expected`, at most `timeout` (negative or zero: do not sleep).
/// Spurious returns are allowed; callers re-check their condition. @note threadsafe
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return;
  constexpr std::int64_t kMaxSeconds = 3600;  // longer sleeps simply wake and re-check
  const std::int64_t ns = timeout.count();
  timespec ts{};
  ts.tv_sec =
      static_cast<time_t>(ns / 1'000'000'000 > kMaxSeconds ? kMaxSeconds : ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns / 1'000'000'000 > kMaxSeconds ? 0 : ns % 1'000'000'000);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &ts,
            nullptr, 0);
}

/// Wakes up to `count` threads sleeping on `word`. @note threadsafe
inline void futex_wake(std::atomic<std::uint32_t>& word, int count = INT_MAX) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr,
            nullptr, 0);
}

}  // namespace switchyard::detail
