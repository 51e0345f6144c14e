// tools/inspect/commands.hpp — switchyard-inspect's commands. Each gathers what it shows once
// and renders it as text or JSON from the same data; none writes to the data directory.
//
// Output: `list`, `offsets`, `catalog`, `stats` and `verify` print one document (a table as
// text, one JSON object with --json); `dump`, `pending` and `tail` print one line per record
// (with --json, JSON Lines: one object per line, a closing summary object last).
// Exit status: kClean, kDamaged (damage found: corruption, or a torn tail recovery would
// truncate), kError (usage, a name that does not exist, an I/O error).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "inspect/record.hpp"

namespace switchyard::inspect {

inline constexpr int kClean = 0;
inline constexpr int kDamaged = 1;
inline constexpr int kError = 2;

struct Common {
  bool json = false;
};

/// Which records `dump`, `pending` and `tail` show.
struct RecordFilter {
  std::optional<std::uint32_t> partition;
  std::uint64_t from_offset = 0;
  std::optional<std::uint64_t> to_offset;  ///< exclusive
  std::optional<std::int64_t> from_time;   ///< ns since the epoch, inclusive
  std::optional<std::int64_t> to_time;     ///< exclusive
  std::optional<std::string> key;
  std::optional<std::uint64_t> limit;
  PayloadFormat payload = PayloadFormat::text;
};

int cmd_list(const std::filesystem::path& dir, const Common& common);
int cmd_catalog(const std::filesystem::path& dir, const Common& common);
int cmd_offsets(const std::filesystem::path& dir, const std::optional<std::string>& topic,
                const std::optional<std::string>& group, const Common& common);
/// `path` a data directory and `destination` set, or `path` one segment file.
int cmd_dump(const std::filesystem::path& path, const std::optional<std::string>& destination,
             const RecordFilter& filter, const Common& common);
int cmd_pending(const std::filesystem::path& dir, const std::string& queue,
                const RecordFilter& filter, bool salvage, const Common& common);
int cmd_stats(const std::filesystem::path& path, const Common& common);
int cmd_verify(const std::filesystem::path& path, const Common& common);

/// `tail -f`: see tail.cpp.
struct TailOptions {
  RecordFilter filter;
  bool from_start = false;  ///< from `filter.from_offset` (else from each log's end)
  std::optional<std::uint64_t> max_records;
  std::uint32_t interval_ms = 100;  ///< how often the segment files are looked at
};
int cmd_tail(const std::filesystem::path& dir, const std::string& destination,
             const TailOptions& options, const Common& common);

/// Prints "switchyard-inspect: <message>" on stderr; returns kError.
int fail(const std::string& message);

}  // namespace switchyard::inspect
