// src/storage/segment_format.hpp — the byte layout of a segment file (format version 2).
//
// A stream (one queue, or one topic partition) is a directory of segment files named
// `<base offset, 20 decimal digits>.seg`. A segment is a 64-byte file header followed by records,
// each starting at a multiple of 8. All integers are little-endian. The prose spec is
// docs/storage.md; this header is the one definition shared by writer, reader, inspector and
// fuzzers.
//
// File header (kFileHeaderSize = 64 bytes)
//
//    0         2         4         6         8
//    +---------+---------+---------+---------+
//    |  magic "SWYDSEG\0" (8 bytes)           |  0
//    +---------+---------+-------------------+
//    | version | hdr size|  flags            |  8   bit 0: compacted (see below); others 0
//    +---------+---------+-------------------+
//    |  base offset (u64)                     | 16   offset of the first record in this file
//    +---------------------------------------+
//    |  created (i64, wall ns since epoch)    | 24
//    +---------------------------------------+
//    |  owner block (24 bytes)                | 32   whose stream this is: storage_owner.hpp
//    +-------------------+-------------------+
//    |  header CRC-32C   |  span (u32)       | 56   CRC over bytes [0, 56) (compacted:
//    +-------------------+-------------------+ 64   [0, 56) then [60, 64))
//
//    Version 2 added the owner block (destination kind, name length and hash, partition,
//    role); version 1 had zeros there. `SegmentLog::open` refuses a version 2 segment whose owner
//    is not the stream's (`Errc::corrupt`, even in salvage mode: a file from another stream is not
//    damage to skip). A version 1 segment is still read, without that check; new segments are
//    written as version 2.
//
//    Compacted segments (flag bit 0; written by `SegmentLog::compact` for topics with
//    `Cleanup::compact`): the segment covers offsets [base, base + span) but holds only some
//    of them — record offsets strictly increase and may skip (the holes are the records
//    compaction removed); the next segment starts at base + span. `span` (u32 at 60, 0 in a
//    segment that is not compacted) is covered by the header CRC, which for a compacted
//    segment extends over bytes [60, 64) after [0, 56). A segment without the flag reads
//    exactly as before (offsets in strict sequence, bytes [60, 64) zero and unchecked).
//
// Record (kRecordHeaderSize = 24 bytes + body, padded with zeros to a multiple of 8)
//
//    0                   4                   8
//    +-------------------+-------------------+
//    |  CRC-32C          |  size (u32)       |  0   size = 24 + body length, never 0
//    +-------------------+-------------------+
//    |  offset (u64)                          |  8   = previous record's offset + 1
//    +---------------------------------------+
//    |  timestamp (i64, wall ns since epoch)  | 16
//    +---------------------------------------+
//    |  body (size - 24 bytes) ... zero pad   | 24
//    +---------------------------------------+
//
//    The CRC covers bytes [4, size): size, offset, timestamp and body — every byte but itself.
//
// Publication protocol (one writer per stream; the file region is fallocated, so it reads as
// zeros until written):
//   1. write offset, timestamp, body and padding;
//   2. write the CRC;
//   3. store `size` last (a release store: in-process readers never look past the published
//      end position, which the writer advances only after this store).
//   A record whose `size` is still 0 was never published. After a crash (kill -9, or power loss
//   for unsynced data) the first record that fails a check — size 0 with non-zero bytes after
//   it, size out of bounds, offset out of sequence, or CRC mismatch — ends the valid log: the
//   length itself may be the corrupt part, so nothing after it is trusted (LevelDB's rule).
//   A run of zeros to the end of the file is the clean, unwritten tail.
//
// Damage policy (applied by `SegmentLog`, reported by `scan_segment`):
//   * in the last segment, damage with no valid record after it is a torn tail: truncated
//     (zeroed) and counted in the recovery stats;
//   * damage with a valid record after it, or anywhere in a sealed segment, is corruption:
//     `Errc::corrupt` naming the file and byte offset — unless salvage mode is on, in which case
//     the reader resynchronises on the next valid record (8-byte steps) and counts what it
//     skipped.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "storage/storage_owner.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

static_assert(std::endian::native == std::endian::little,
              "segment files are little-endian and written with memcpy: a big-endian port needs "
              "byte swaps in segment_format.hpp");

namespace segment {

inline constexpr char kMagic[8] = {'S', 'W', 'Y', 'D', 'S', 'E', 'G', '\0'};
inline constexpr std::uint16_t kVersion = 2;
/// Oldest version this build reads (version 1: no owner block, no identity check).
inline constexpr std::uint16_t kOldestVersion = 1;
/// First version whose header carries an owner block.
inline constexpr std::uint16_t kOwnerVersion = 2;
inline constexpr std::size_t kAlignment = 8;

// File header fields.
inline constexpr std::size_t kFileHeaderSize = 64;
inline constexpr std::size_t kMagicOffset = 0;
inline constexpr std::size_t kVersionOffset = 8;
inline constexpr std::size_t kHeaderSizeOffset = 10;
inline constexpr std::size_t kFlagsOffset = 12;
inline constexpr std::size_t kBaseOffsetOffset = 16;
inline constexpr std::size_t kCreatedOffset = 24;
inline constexpr std::size_t kOwnerOffset = 32;
inline constexpr std::size_t kHeaderCrcOffset = 56;
inline constexpr std::size_t kSpanOffset = 60;
/// `flags` bit of a compacted segment (offsets may skip; `span` says what it covers).
inline constexpr std::uint32_t kFlagCompacted = 1;

// Record header fields.
inline constexpr std::size_t kRecordHeaderSize = 24;
inline constexpr std::size_t kCrcOffset = 0;
inline constexpr std::size_t kSizeOffset = 4;
inline constexpr std::size_t kOffsetOffset = 8;
inline constexpr std::size_t kTimestampOffset = 16;
inline constexpr std::size_t kBodyOffset = 24;
/// The CRC covers [kCrcCoverageBegin, size).
inline constexpr std::size_t kCrcCoverageBegin = kSizeOffset;

/// Largest body a record can carry (size is a u32).
inline constexpr std::size_t kMaxBody = 0xFFFF'FFFFu - kRecordHeaderSize - kAlignment;

static_assert(kOwnerOffset + owner_block::kSize == kHeaderCrcOffset,
              "the owner block fills the bytes between the creation stamp and the header CRC");
static_assert(kFileHeaderSize % kAlignment == 0 && kRecordHeaderSize % kAlignment == 0,
              "headers keep records 8-byte aligned");

constexpr std::size_t align_up(std::size_t n) noexcept {
  return (n + kAlignment - 1) & ~(kAlignment - 1);
}
/// Bytes a record with a body of `body_size` bytes occupies in a segment, padding included.
constexpr std::size_t record_footprint(std::size_t body_size) noexcept {
  return align_up(kRecordHeaderSize + body_size);
}

/// `<base offset, 20 digits>.seg`.
std::string file_name(std::uint64_t base_offset);
/// The base offset a segment file name encodes, or false if `name` is not a segment name.
bool parse_file_name(std::string_view name, std::uint64_t& base_offset) noexcept;

}  // namespace segment

// Unaligned little-endian loads and stores (memcpy: no alignment or aliasing assumptions).
template <class T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

/// What a segment's file header says.
struct SegmentHeader {
  std::uint16_t version = segment::kVersion;
  std::uint64_t base_offset = 0;
  std::int64_t created_ns = 0;
  StorageOwner owner;  ///< version 2 on; a version 1 header reads as "no owner"
  /// Compacted segments: the offsets covered, [base_offset, base_offset + span); 0: not
  /// compacted (offsets in strict sequence).
  std::uint32_t compacted_span = 0;
  [[nodiscard]] bool compacted() const noexcept { return compacted_span != 0; }
  /// True if the header names its owner (version 2 on), so the identity check applies.
  [[nodiscard]] bool has_owner() const noexcept { return version >= segment::kOwnerVersion; }
};

/// Writes a file header into `out` (at least kFileHeaderSize bytes).
void write_segment_header(std::span<std::byte> out, const SegmentHeader& header) noexcept;

/// Parses and verifies a file header. Failure: `Errc::corrupt` ("bad magic", "unsupported format
/// version 7", "header CRC mismatch", "file shorter than its header"), the message naming `path`.
/// Reads versions kOldestVersion to kVersion.
Result<SegmentHeader> read_segment_header(std::span<const std::byte> file, std::string_view path);

/// Writes one record at `out` (exactly record_footprint(body.size()) bytes, zero padded),
/// following the publication protocol: `size` is stored last.
void write_record(std::span<std::byte> out, std::uint64_t offset, std::int64_t timestamp_ns,
                  std::span<const std::byte> body) noexcept;

/// Publishes a record whose body the caller already wrote in place, at
/// `out[kBodyOffset, kBodyOffset + body_size)`: writes offset, timestamp and the zero padding,
/// then the CRC (computed over the bytes in `out`), then `size` last (publication protocol).
/// `out` is exactly record_footprint(body_size) bytes. `write_record` is a body copy plus this.
void seal_record(std::span<std::byte> out, std::uint64_t offset, std::int64_t timestamp_ns,
                 std::size_t body_size) noexcept;

/// One record as the reader sees it: a view into the bytes it was read from.
struct RecordView {
  std::uint64_t offset = 0;
  std::int64_t timestamp_ns = 0;
  std::span<const std::byte> body;
};

struct ScanOptions {
  /// Skip damaged regions and resynchronise on the next valid record instead of stopping.
  bool salvage = false;
  /// Look for a valid record after the first damage (to tell a torn tail from mid-log
  /// corruption). Costs a CRC attempt per 8 bytes of damaged region.
  bool probe_after_damage = true;
};

/// What a scan of one segment found. Positions are byte offsets in the file.
struct SegmentScan {
  SegmentHeader header;
  std::uint64_t records = 0;               ///< valid records accepted
  std::uint64_t next_offset = 0;           ///< offset after the last accepted record
  std::size_t valid_end = 0;               ///< byte just past the last accepted record
  std::size_t data_end = 0;                ///< byte just past the last non-zero byte of the file
  bool damaged = false;                    ///< a record failed a check
  std::size_t damage_at = 0;               ///< position of the first failed record
  std::string damage;                      ///< what failed there
  bool valid_record_after_damage = false;  ///< so the damage is not a torn tail
  std::uint64_t skipped_regions = 0;       ///< salvage: damaged regions skipped
  std::uint64_t skipped_bytes = 0;         ///< salvage: bytes skipped
};

/// Reads every record of a segment image (the whole file, header included), calling
/// `on_record(view, position)` for each valid record in order. Never reads outside `file`,
/// never throws on any input (it is a fuzz target). Fails only if the file header does not
/// verify; damage to records is reported in the result, with the policy left to the caller.
Result<SegmentScan> scan_segment(
    std::span<const std::byte> file, std::string_view path, const ScanOptions& options,
    const std::function<void(const RecordView&, std::size_t)>& on_record = {});

/// The recovery policy for one scanned segment (see "Damage policy" above), shared by
/// `SegmentLog::open`, which acts on it, and switchyard-inspect, which only reports it.
struct SegmentVerdict {
  enum Kind : std::uint8_t {
    clean,      ///< every byte accounted for
    torn_tail,  ///< last segment: bytes after the last valid record, to be zeroed
    corrupt,    ///< refuse to open (`Errc::corrupt`) unless salvaging
  } kind = clean;
  std::string message;  ///< "<path>: offset N: what" unless clean
};

/// Judges `scan` of the segment at `path`, whose file name says `name_base`; `previous_end`
/// is where the previous segment's records end (nullptr for the first segment); `last` says
/// whether this is the stream's last (active) segment.
SegmentVerdict judge_segment(const SegmentScan& scan, std::string_view path,
                             std::uint64_t name_base, const std::uint64_t* previous_end, bool last,
                             bool salvage);

/// True if `file`, whose header did not verify, is a segment whose creation was cut short:
/// its header is incomplete (or zero) and nothing follows it. Recovery removes such a file
/// when it is the last segment.
bool is_half_created(std::span<const std::byte> file) noexcept;

}  // namespace switchyard::detail
