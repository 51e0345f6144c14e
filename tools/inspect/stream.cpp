#include "inspect/stream.hpp"

#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

namespace switchyard::inspect {

using namespace switchyard::detail;

Result<Image> open_image(const fs::path& path) {
  auto fd = FileHandle::open(path, O_RDONLY);
  if (!fd) return fd.failure();
  auto size = file_size(fd->get(), path.string());
  if (!size) return size.failure();
  Image image;
  if (*size > 0) {
    auto map = Mapping::map(fd->get(), *size, false, path.string());
    if (!map) return map.failure();
    image.map = std::move(*map);
  }
  return image;
}

std::vector<fs::path> segments_of(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::uint64_t base = 0;
    if (e.is_regular_file(ec) && segment::parse_file_name(e.path().filename().string(), base)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

StreamReport examine_stream(const fs::path& dir) {
  StreamReport report;
  const auto files = segments_of(dir);
  bool have_end = false;
  std::optional<StorageOwner> owner;  // what the stream's first version 2 segment claims
  for (std::size_t i = 0; i < files.size(); ++i) {
    const bool last = i + 1 == files.size();
    const std::string path = files[i].string();
    auto image = open_image(files[i]);
    if (!image) {
      report.problems.push_back(image.message());
      continue;
    }
    const auto bytes = image->bytes();
    auto scan = scan_segment(bytes, path, {.salvage = true}, [&](const RecordView& r, std::size_t) {
      if (report.first_time_ns == 0) report.first_time_ns = r.timestamp_ns;
      report.last_time_ns = r.timestamp_ns;
    });
    if (!scan) {
      if (last && is_half_created(bytes)) {
        report.notes.push_back(scan.message() +
                               " (half-created last segment: recovery removes it)");
      } else {
        report.problems.push_back(scan.message());
      }
      continue;
    }
    ++report.segments;
    if (scan->header.has_owner()) {
      // Every segment of one stream must claim the same owner.
      if (!owner) owner = scan->header.owner;
      if (auto same = check_owner(scan->header.owner, *owner, path, segment::kOwnerOffset); !same) {
        report.problems.push_back(same.message());
      }
    }
    std::uint64_t base = 0;
    segment::parse_file_name(files[i].filename().string(), base);
    const auto verdict = judge_segment(*scan, path, base, have_end ? &report.end_offset : nullptr,
                                       last, /*salvage=*/false);
    if (verdict.kind == SegmentVerdict::corrupt) {
      report.problems.push_back(
          scan->skipped_regions == 0
              ? verdict.message
              : fmt::format("{} ({} damaged region(s), {} bytes; salvage mode would skip them)",
                            verdict.message, scan->skipped_regions, scan->skipped_bytes));
    } else if (verdict.kind == SegmentVerdict::torn_tail) {
      report.torn_tail_bytes += scan->data_end - scan->valid_end;
      report.notes.push_back(verdict.message + ": recovery truncates it");
    }
    if (!have_end) report.first_offset = base;
    have_end = true;
    report.end_offset = scan->next_offset;
    report.records += scan->records;
    report.bytes += scan->valid_end - segment::kFileHeaderSize - scan->skipped_bytes;
    report.salvageable_regions += scan->skipped_regions;
    report.salvageable_bytes += scan->skipped_bytes;
  }
  return report;
}

std::vector<std::string> for_each_record(const fs::path& dir, std::uint64_t from,
                                         const std::function<bool(const RecordView&)>& on_record) {
  std::vector<std::string> damage;
  const auto files = segments_of(dir);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const bool last = i + 1 == files.size();
    if (!last) {
      std::uint64_t next_base = 0;
      if (segment::parse_file_name(files[i + 1].filename().string(), next_base) &&
          next_base <= from) {
        continue;  // every record of this segment lies below `from`
      }
    }
    auto image = open_image(files[i]);
    if (!image) {
      damage.push_back(image.message());
      continue;
    }
    bool more = true;
    // The strict reader: the first damaged record ends the segment's records.
    auto scan = scan_segment(image->bytes(), files[i].string(), {.probe_after_damage = false},
                             [&](const RecordView& r, std::size_t) {
                               if (more && r.offset >= from) more = on_record(r);
                             });
    if (!scan) {
      damage.push_back(scan.message());
    } else if (scan->damaged && more) {
      damage.push_back(fmt::format("{}: offset {}: {}{}", files[i].string(), scan->damage_at,
                                   scan->damage,
                                   last ? " (a torn tail, or a record being written now)" : ""));
    }
    if (!more) break;
  }
  return damage;
}

}  // namespace switchyard::inspect
