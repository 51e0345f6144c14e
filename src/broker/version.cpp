#include "switchyard/version.hpp"

namespace switchyard {

std::string_view library_version() noexcept {
  return "0.1.0";
}

}  // namespace switchyard
