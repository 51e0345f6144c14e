// tests/fuzz/fuzz_support.hpp — what the libFuzzer targets share: a check that crashes where
// libFuzzer sees it, and the seed protocol of scripts/run-fuzz.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace switchyard::fuzz {

/// A violated expectation: a crash libFuzzer reports, with the input that caused it.
inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

/// scripts/run-fuzz's seed protocol: run with SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>, a target
/// writes seeds into <dir> with the writer code (so a format change cannot leave them stale)
/// and exits. Call from LLVMFuzzerInitialize.
inline void write_seeds_if_asked(void (*write_seeds)(const std::filesystem::path&)) {
  if (const char* out = std::getenv("SWITCHYARD_FUZZ_WRITE_SEEDS"); out != nullptr) {
    write_seeds(out);
    std::exit(0);
  }
}

}  // namespace switchyard::fuzz
