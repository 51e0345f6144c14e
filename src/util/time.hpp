// src/util/time.hpp — the broker's instants as the integers its atomics and heaps store.
#pragma once

#include <cstdint>

#include "switchyard/clock.hpp"
#include "switchyard/detail/deadline.hpp"

namespace switchyard::detail {

/// The instant that never comes (TimePoint::max()), as stored.
inline constexpr std::int64_t kNever = kNeverNs;

/// `t` in nanoseconds since the clock's epoch.
[[nodiscard]] constexpr std::int64_t ns(TimePoint t) noexcept {
  return t.time_since_epoch().count();
}

}  // namespace switchyard::detail
