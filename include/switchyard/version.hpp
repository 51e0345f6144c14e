// switchyard/version.hpp — the library's version.
#pragma once

#include <string_view>

#include "switchyard/export.hpp"

namespace switchyard {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 2;
inline constexpr int kVersionPatch = 0;

/// The version of the compiled library ("0.2.0"); compare with the header's constants to catch
/// a header/library mismatch (a shared library older or newer than the headers).
SWITCHYARD_EXPORT std::string_view library_version() noexcept;

}  // namespace switchyard
