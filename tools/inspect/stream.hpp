// tools/inspect/stream.hpp — one stream's segment files (a queue's messages or settlements, a
// topic partition), read without touching them: opened O_RDONLY, mapped PROT_READ, never
// locked, so a live broker's writer is neither changed nor blocked.
//
// What recovery would find is judged by the storage layer's own policy (`scan_segment`,
// `judge_segment`, `is_half_created`: storage/segment_format.hpp); this file only gathers it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/file.hpp"
#include "storage/segment_format.hpp"
#include "switchyard/error.hpp"

namespace switchyard::inspect {

namespace fs = std::filesystem;

/// A read-only image of a file (mapped; an empty file has an empty image).
struct Image {
  std::shared_ptr<detail::Mapping> map;
  [[nodiscard]] std::span<const std::byte> bytes() const {
    return map ? std::span<const std::byte>(map->bytes()) : std::span<const std::byte>();
  }
};
Result<Image> open_image(const fs::path& path);

/// The segment files of `dir`, in offset order (none if it is not a directory).
std::vector<fs::path> segments_of(const fs::path& dir);

/// What recovery of one stream would find, computed without touching the files.
struct StreamReport {
  std::uint64_t segments = 0, records = 0, bytes = 0;
  std::uint64_t first_offset = 0, end_offset = 0;
  std::int64_t first_time_ns = 0, last_time_ns = 0;  ///< record timestamps; 0: no records
  std::uint64_t torn_tail_bytes = 0, salvageable_regions = 0, salvageable_bytes = 0;
  std::vector<std::string> problems;  ///< corruption: recovery would refuse without salvage
  std::vector<std::string> notes;     ///< torn tail / half-created segment: recovery repairs
};
StreamReport examine_stream(const fs::path& dir);

/// Calls `on_record` with every valid record of the stream in `dir` whose offset is at least
/// `from`, in offset order, until it returns false. Segments wholly below `from` are not read.
/// Damage ends a segment's records (as in the strict reader); returns one line per damaged
/// segment read ("<file>: offset N: what"; in the last segment that may also be a record
/// being written right now).
std::vector<std::string> for_each_record(
    const fs::path& dir, std::uint64_t from,
    const std::function<bool(const detail::RecordView&)>& on_record);

}  // namespace switchyard::inspect
