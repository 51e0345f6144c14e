// Fuzz target: the checkpoint file reader (storage/checkpoint_file.hpp) and the two record
// codecs stored in it, a topic's committed offsets (durable/offset_store.hpp) and the broker's
// catalog (broker/catalog_records.hpp). Input: a whole checkpoint file. Must never crash;
// whatever a codec accepts must survive a re-encode unchanged.
#include <cstddef>
#include <cstdint>
#include <span>

#include "broker/catalog_records.hpp"
#include "durable/offset_store.hpp"
#include "storage/checkpoint_file.hpp"

using namespace switchyard::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  auto image = decode_checkpoint_file(file, "fuzz");
  if (!image) return 0;
  if (auto offsets = decode_offsets(*image)) {
    const auto again = encode_offset_checkpoint(*offsets, image->generation, image->owner);
    auto round = decode_offset_checkpoint(again, "fuzz");
    if (!round || round->offsets != *offsets) __builtin_trap();
  }
  if (auto entries = decode_catalog(*image)) {
    const auto again =
        encode_checkpoint_file(encode_catalog(*entries), image->generation, image->owner);
    auto round_image = decode_checkpoint_file(again, "fuzz");
    if (!round_image) __builtin_trap();
    auto round = decode_catalog(*round_image);
    if (!round || *round != *entries) __builtin_trap();
  }
  return 0;
}
