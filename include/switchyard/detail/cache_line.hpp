// switchyard/detail/cache_line.hpp — the one cache-line constant.
#pragma once

#include <cstddef>

namespace switchyard::detail {

/// Size of the unit the CPU keeps coherent. 64 on every x86-64 and most ARMv8 parts; shared
/// state written by different threads lives at least this far apart.
inline constexpr std::size_t kCacheLine = 64;

}  // namespace switchyard::detail
