// Fuzz target: the segment reader (and the record bodies it hands out) on hostile bytes.
// Input: a whole segment file. The first byte's low bit also chooses salvage mode, so both
// recovery policies see every input. Must never crash, hang, or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "durable/queue_journal.hpp"
#include "durable/stored_message.hpp"
#include "storage/segment_format.hpp"

using namespace switchyard::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  const bool salvage = size > 0 && (data[0] & 1u) != 0;
  std::uint64_t previous = 0;
  bool first = true;
  auto scan = scan_segment(
      file, "fuzz", {.salvage = salvage}, [&](const RecordView& record, std::size_t position) {
        // Offsets strictly increase; views lie inside the input.
        if (!first && record.offset <= previous) __builtin_trap();
        if (position < segment::kFileHeaderSize || record.body.data() < file.data() ||
            record.body.data() + record.body.size() > file.data() + size) {
          __builtin_trap();
        }
        first = false;
        previous = record.offset;
        (void)decode_stored_message(record.body);
        (void)decode_settlement(record.body);
      });
  if (scan && (scan->valid_end < segment::kFileHeaderSize || scan->data_end > size)) {
    __builtin_trap();
  }
  return 0;
}
