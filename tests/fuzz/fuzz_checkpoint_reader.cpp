// Fuzz target: the offset checkpoint reader. Input: a whole checkpoint file. Must never crash;
// whatever it accepts must survive a re-encode unchanged.
#include <cstddef>
#include <cstdint>
#include <span>

#include "storage/offset_checkpoint.hpp"

using namespace switchyard::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  auto decoded = decode_checkpoint(file, "fuzz");
  if (decoded) {
    const auto again = encode_checkpoint(decoded->offsets, decoded->generation, decoded->owner);
    auto round = decode_checkpoint(again, "fuzz");
    if (!round || round->offsets != decoded->offsets) __builtin_trap();
  }
  return 0;
}
