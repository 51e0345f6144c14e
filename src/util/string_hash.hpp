// src/util/string_hash.hpp — a transparent hash for maps keyed by std::string, so a look-up by
// std::string_view builds no string.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace switchyard::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace switchyard::detail
