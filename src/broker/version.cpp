#include "switchyard/version.hpp"

// SWITCHYARD_VERSION_* come from project(VERSION) in CMakeLists.txt, for this file only: the
// build fails when the header's constants and the package's version disagree.
static_assert(switchyard::kVersionMajor == SWITCHYARD_VERSION_MAJOR &&
                  switchyard::kVersionMinor == SWITCHYARD_VERSION_MINOR &&
                  switchyard::kVersionPatch == SWITCHYARD_VERSION_PATCH,
              "include/switchyard/version.hpp and project(VERSION) in CMakeLists.txt disagree");

namespace switchyard {

std::string_view library_version() noexcept {
  return SWITCHYARD_VERSION_STRING;
}

}  // namespace switchyard
