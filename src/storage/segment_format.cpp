// Segment file encoding and the one reader every consumer of segment bytes goes through.
#include "storage/segment_format.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>

#include <fmt/format.h>

#include "util/crc32c.hpp"

namespace switchyard::detail {
namespace segment {

std::string file_name(std::uint64_t base_offset) {
  return fmt::format("{:020}.seg", base_offset);
}

bool parse_file_name(std::string_view name, std::uint64_t& base_offset) noexcept {
  constexpr std::string_view kSuffix = ".seg";
  if (name.size() != 20 + kSuffix.size() || !name.ends_with(kSuffix)) return false;
  const char* first = name.data();
  const char* last = first + 20;
  if (!std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) return false;
  const auto [end, ec] = std::from_chars(first, last, base_offset);
  return ec == std::errc() && end == last;
}

}  // namespace segment

using namespace segment;

void write_segment_header(std::span<std::byte> out, const SegmentHeader& header) noexcept {
  std::fill(out.begin(), out.begin() + kFileHeaderSize, std::byte{0});
  std::memcpy(out.data() + kMagicOffset, kMagic, sizeof kMagic);
  store<std::uint16_t>(out.data() + kVersionOffset, header.version);
  store<std::uint16_t>(out.data() + kHeaderSizeOffset, static_cast<std::uint16_t>(kFileHeaderSize));
  store<std::uint32_t>(out.data() + kFlagsOffset, header.compacted() ? kFlagCompacted : 0);
  store<std::uint64_t>(out.data() + kBaseOffsetOffset, header.base_offset);
  store<std::int64_t>(out.data() + kCreatedOffset, header.created_ns);
  if (header.has_owner()) write_owner(out.subspan(kOwnerOffset, owner_block::kSize), header.owner);
  std::uint32_t crc = crc32c(out.first(kHeaderCrcOffset));
  if (header.compacted()) {
    store<std::uint32_t>(out.data() + kSpanOffset, header.compacted_span);
    crc = crc32c(out.subspan(kSpanOffset, 4), crc);
  }
  store<std::uint32_t>(out.data() + kHeaderCrcOffset, crc);
}

Result<SegmentHeader> read_segment_header(std::span<const std::byte> file, std::string_view path) {
  if (file.size() < kFileHeaderSize) {
    return Failure{Errc::corrupt, fmt::format("{}: file is {} bytes, shorter than its {}-byte "
                                              "header",
                                              path, file.size(), kFileHeaderSize)};
  }
  if (std::memcmp(file.data() + kMagicOffset, kMagic, sizeof kMagic) != 0) {
    return Failure{Errc::corrupt, fmt::format("{}: offset 0: bad magic (not a switchyard "
                                              "segment)",
                                              path)};
  }
  const auto stored_crc = load<std::uint32_t>(file.data() + kHeaderCrcOffset);
  const auto flags = load<std::uint32_t>(file.data() + kFlagsOffset);
  std::uint32_t crc = crc32c(file.first(kHeaderCrcOffset));
  if ((flags & kFlagCompacted) != 0) crc = crc32c(file.subspan(kSpanOffset, 4), crc);
  if (crc != stored_crc) {
    return Failure{Errc::corrupt,
                   fmt::format("{}: offset {}: file header CRC mismatch", path, kHeaderCrcOffset)};
  }
  SegmentHeader h;
  h.version = load<std::uint16_t>(file.data() + kVersionOffset);
  if (h.version < kOldestVersion || h.version > kVersion) {
    return Failure{Errc::corrupt,
                   fmt::format("{}: offset {}: unsupported format version {} "
                               "(this build reads versions {} to {})",
                               path, kVersionOffset, h.version, kOldestVersion, kVersion)};
  }
  if (load<std::uint16_t>(file.data() + kHeaderSizeOffset) != kFileHeaderSize) {
    return Failure{
        Errc::corrupt,
        fmt::format("{}: offset {}: header size {} (expected {})", path, kHeaderSizeOffset,
                    load<std::uint16_t>(file.data() + kHeaderSizeOffset), kFileHeaderSize)};
  }
  h.base_offset = load<std::uint64_t>(file.data() + kBaseOffsetOffset);
  h.created_ns = load<std::int64_t>(file.data() + kCreatedOffset);
  if (h.has_owner()) h.owner = read_owner(file.subspan(kOwnerOffset, owner_block::kSize));
  if ((flags & kFlagCompacted) != 0) {
    h.compacted_span = load<std::uint32_t>(file.data() + kSpanOffset);
    if (h.compacted_span == 0) {
      return Failure{Errc::corrupt, fmt::format("{}: offset {}: compacted segment with span 0",
                                                path, kSpanOffset)};
    }
  }
  return h;
}

void seal_record(std::span<std::byte> out, std::uint64_t offset, std::int64_t timestamp_ns,
                 std::size_t body_size) noexcept {
  const auto size = static_cast<std::uint32_t>(kRecordHeaderSize + body_size);
  std::byte* p = out.data();
  store<std::uint64_t>(p + kOffsetOffset, offset);
  store<std::int64_t>(p + kTimestampOffset, timestamp_ns);
  std::fill(p + size, p + record_footprint(body_size), std::byte{0});
  // The CRC covers the size field, which is not stored yet: feed it from a local copy.
  std::byte size_bytes[4];
  store<std::uint32_t>(size_bytes, size);
  std::uint32_t crc = crc32c(size_bytes);
  crc = crc32c({p + kOffsetOffset, size - kOffsetOffset}, crc);
  store<std::uint32_t>(p + kCrcOffset, crc);
  // Publication: size last, release-ordered after every byte above (see the header comment).
  std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(p + kSizeOffset))
      .store(size, std::memory_order_release);
}

void write_record(std::span<std::byte> out, std::uint64_t offset, std::int64_t timestamp_ns,
                  std::span<const std::byte> body) noexcept {
  if (!body.empty()) std::memcpy(out.data() + kBodyOffset, body.data(), body.size());
  seal_record(out, offset, timestamp_ns, body.size());
}

namespace {

std::size_t last_nonzero_end(std::span<const std::byte> file, std::size_t floor) noexcept {
  std::size_t end = file.size();
  while (end > floor && (end % 8) != 0 && file[end - 1] == std::byte{0}) --end;
  while (end >= floor + 8 && load<std::uint64_t>(file.data() + end - 8) == 0) end -= 8;
  while (end > floor && file[end - 1] == std::byte{0}) --end;
  return end;
}

// Checks the record at `pos`. Returns an empty string if valid, else what failed.
// `min_offset`/`max_offset` bound the acceptable offset (equal in strict sequence).
std::string check_record(std::span<const std::byte> file, std::size_t pos, std::uint64_t min_offset,
                         std::uint64_t max_offset) {
  if (pos + kRecordHeaderSize > file.size()) {
    return fmt::format("record header cut by the end of the file ({} of {} bytes)",
                       file.size() - pos, kRecordHeaderSize);
  }
  const std::byte* p = file.data() + pos;
  const auto size = load<std::uint32_t>(p + kSizeOffset);
  if (size == 0) return "unpublished record (size 0) followed by non-zero bytes";
  if (size < kRecordHeaderSize) return fmt::format("size {} below the record header size", size);
  if (size > file.size() - pos) {
    return fmt::format("size {} runs past the end of the file ({} bytes left)", size,
                       file.size() - pos);
  }
  const auto offset = load<std::uint64_t>(p + kOffsetOffset);
  if (offset < min_offset || offset > max_offset) {
    if (min_offset == max_offset) {
      return fmt::format("offset {} out of sequence (expected {})", offset, min_offset);
    }
    return fmt::format("offset {} outside [{}, {}]", offset, min_offset, max_offset);
  }
  const std::uint32_t crc = crc32c({p + kCrcCoverageBegin, size - kCrcCoverageBegin});
  if (crc != load<std::uint32_t>(p + kCrcOffset)) {
    return fmt::format("CRC mismatch (stored {:#010x}, computed {:#010x})",
                       load<std::uint32_t>(p + kCrcOffset), crc);
  }
  return {};
}

}  // namespace

Result<SegmentScan> scan_segment(
    std::span<const std::byte> file, std::string_view path, const ScanOptions& options,
    const std::function<void(const RecordView&, std::size_t)>& on_record) {
  auto header = read_segment_header(file, path);
  if (!header) return header.failure();
  SegmentScan scan;
  scan.header = *header;
  scan.next_offset = header->base_offset;
  scan.valid_end = kFileHeaderSize;
  scan.data_end = last_nonzero_end(file, kFileHeaderSize);

  std::size_t pos = kFileHeaderSize;
  bool resync = false;  // after a salvage skip the next offset is unknown, only bounded
  while (pos < scan.data_end) {
    std::uint64_t max_offset = scan.next_offset;
    if (resync) max_offset += (pos - scan.valid_end) / kRecordHeaderSize + 1;
    // A compacted segment's offsets strictly increase but may skip (the records removed).
    if (scan.header.compacted()) max_offset = UINT64_MAX - 1;
    std::string failed = check_record(file, pos, scan.next_offset, max_offset);
    if (failed.empty()) {
      const std::byte* p = file.data() + pos;
      const auto size = load<std::uint32_t>(p + kSizeOffset);
      RecordView view{load<std::uint64_t>(p + kOffsetOffset),
                      load<std::int64_t>(p + kTimestampOffset),
                      {p + kBodyOffset, size - kRecordHeaderSize}};
      if (on_record) on_record(view, pos);
      ++scan.records;
      scan.next_offset = view.offset + 1;
      pos += align_up(size);
      scan.valid_end = pos;
      resync = false;
      continue;
    }
    if (!scan.damaged) {
      scan.damaged = true;
      scan.damage_at = pos;
      scan.damage = std::move(failed);
    }
    if (!options.salvage && !options.probe_after_damage) break;
    // Look for the next record that verifies. Every record is at least 24 bytes, so a valid
    // one at q can carry an offset at most (q - valid_end) / 24 past the expected one: that
    // bound rejects almost every garbage position before any CRC is computed.
    std::size_t next = 0;
    for (std::size_t q = pos + kAlignment; q + kRecordHeaderSize <= scan.data_end;
         q += kAlignment) {
      const std::uint64_t bound =
          scan.header.compacted() ? UINT64_MAX - 1
                                  : scan.next_offset + (q - scan.valid_end) / kRecordHeaderSize + 1;
      if (check_record(file, q, scan.next_offset, bound).empty()) {
        next = q;
        break;
      }
    }
    if (next == 0) break;
    scan.valid_record_after_damage = true;
    if (!options.salvage) break;
    ++scan.skipped_regions;
    scan.skipped_bytes += next - pos;
    pos = next;
    resync = true;
  }
  return scan;
}

SegmentVerdict judge_segment(const SegmentScan& scan, std::string_view path,
                             std::uint64_t name_base, const std::uint64_t* previous_end, bool last,
                             bool salvage) {
  using Kind = SegmentVerdict::Kind;
  if (scan.header.base_offset != name_base) {
    return {Kind::corrupt, fmt::format("{}: offset {}: header base offset {} does not match the "
                                       "file name",
                                       path, kBaseOffsetOffset, scan.header.base_offset)};
  }
  if (previous_end != nullptr &&
      (name_base < *previous_end || (name_base != *previous_end && !salvage))) {
    return {Kind::corrupt, fmt::format("{}: segment starts at offset {} but the previous one ends "
                                       "at {} (missing or overlapping segment)",
                                       path, name_base, *previous_end)};
  }
  const bool torn = last && !scan.valid_record_after_damage;
  if (scan.damaged && !torn && !salvage) {
    return {Kind::corrupt, fmt::format("{}: offset {}: {}{}", path, scan.damage_at, scan.damage,
                                       last ? " (valid records follow, so this is not a torn tail)"
                                            : " (in a sealed segment)")};
  }
  if (scan.data_end > scan.valid_end) {
    const std::string what =
        scan.damaged && scan.damage_at >= scan.valid_end ? scan.damage : "partial record";
    if (last) {
      return {Kind::torn_tail, fmt::format("{}: offset {}: torn tail of {} bytes ({})", path,
                                           scan.valid_end, scan.data_end - scan.valid_end, what)};
    }
    if (!salvage) {
      return {Kind::corrupt,
              fmt::format("{}: offset {}: {} (in a sealed segment)", path, scan.valid_end, what)};
    }
  }
  return {};
}

bool is_half_created(std::span<const std::byte> file) noexcept {
  auto zero = [](std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
  };
  if (file.size() <= kFileHeaderSize) return true;
  return zero(file.first(kFileHeaderSize)) || zero(file.subspan(kFileHeaderSize));
}

}  // namespace switchyard::detail
