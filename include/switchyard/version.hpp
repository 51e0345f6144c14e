// switchyard/version.hpp — the library's version.
#pragma once

#include <string_view>

namespace switchyard {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;

/// The version of the compiled library ("0.1.0"); compare with the header's constants to catch
/// a header/library mismatch.
std::string_view library_version() noexcept;

}  // namespace switchyard
