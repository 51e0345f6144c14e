// switchyard-inspect — a read-only look into a switchyard data directory.
//
//   switchyard-inspect list   DATA_DIR           streams (segment directories) and checkpoints
//   switchyard-inspect dump   SEGMENT [--limit N] records: offset, timestamp, key, headers, payload
//   switchyard-inspect verify PATH               check every CRC of every segment and checkpoint
//   switchyard-inspect stats  STREAM_DIR         what recovery would find (dry run)
//
// Never modifies a file: files are opened O_RDONLY and mapped PROT_READ.
// Exit status: 0 clean, 1 damage found (corruption, or a torn tail recovery would truncate),
// 2 usage or I/O error.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "broker/catalog_records.hpp"
#include "durable/offset_store.hpp"
#include "durable/queue_journal.hpp"
#include "durable/stored_message.hpp"
#include "storage/checkpoint_file.hpp"
#include "storage/file.hpp"
#include "storage/segment_format.hpp"

namespace fs = std::filesystem;
using namespace switchyard;
using namespace switchyard::detail;

namespace {

constexpr int kClean = 0;
constexpr int kDamaged = 1;
constexpr int kError = 2;

// A read-only image of a file (mapped; an empty file has an empty image).
struct Image {
  std::shared_ptr<Mapping> map;
  [[nodiscard]] std::span<const std::byte> bytes() const {
    return map ? std::span<const std::byte>(map->bytes()) : std::span<const std::byte>();
  }
};

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

std::string format_time(std::int64_t ns) {
  if (ns == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09}Z", buffer, ns % 1'000'000'000);
}

std::string preview(std::span<const std::byte> bytes, std::size_t limit = 64) {
  std::string out;
  for (std::size_t i = 0; i < std::min(limit, bytes.size()); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (std::isprint(c) && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

std::string preview(std::string_view text) {
  return preview(std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

std::vector<fs::path> segments_of(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::uint64_t base = 0;
    if (e.is_regular_file() && segment::parse_file_name(e.path().filename().string(), base)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> stream_dirs(const fs::path& root) {
  std::vector<fs::path> out;
  if (!segments_of(root).empty()) out.push_back(root);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory() && !segments_of(it->path()).empty()) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What recovery of one stream would find, computed without touching the files.
struct StreamReport {
  std::uint64_t segments = 0, records = 0, bytes = 0;
  std::uint64_t first_offset = 0, end_offset = 0;
  std::uint64_t torn_tail_bytes = 0, salvageable_regions = 0, salvageable_bytes = 0;
  std::vector<std::string> problems;  // corruption: recovery would refuse without salvage
  std::vector<std::string> notes;     // torn tail / half-created segment: recovery repairs
};

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
    auto scan = scan_segment(bytes, path, {.salvage = true});
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
      // Without the data directory's catalog the tool cannot say whose stream this should be,
      // but every segment of one stream must claim the same owner.
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

int cmd_list(const fs::path& root) {
  if (!fs::is_directory(root)) {
    std::fprintf(stderr, "%s: not a directory\n", root.c_str());
    return kError;
  }
  const auto streams = stream_dirs(root);
  std::printf("%-48s %9s %20s %20s %12s\n", "stream", "segments", "first offset", "end offset",
              "bytes");
  for (const auto& dir : streams) {
    const auto r = examine_stream(dir);
    const auto name = dir == root ? std::string(".") : fs::relative(dir, root).string();
    std::printf("%-48s %9llu %20llu %20llu %12llu%s\n", name.c_str(),
                static_cast<unsigned long long>(r.segments),
                static_cast<unsigned long long>(r.first_offset),
                static_cast<unsigned long long>(r.end_offset),
                static_cast<unsigned long long>(r.bytes),
                r.problems.empty() ? (r.notes.empty() ? "" : "  (torn tail)") : "  (DAMAGED)");
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().extension() == ".ckpt") {
      std::printf("checkpoint %s\n", fs::relative(it->path(), root).c_str());
    }
  }
  return kClean;
}

int cmd_dump(const fs::path& file, std::uint64_t limit) {
  auto image = open_image(file);
  if (!image) {
    std::fprintf(stderr, "%s\n", image.message().c_str());
    return kError;
  }
  std::uint64_t shown = 0;
  auto scan = scan_segment(
      image->bytes(), file.string(), {.salvage = true},
      [&](const RecordView& r, std::size_t position) {
        if (shown++ >= limit) return;
        std::string what;
        if (auto m = decode_stored_message(r.body)) {
          std::string headers;
          for (const auto& [k, v] : m->headers) {
            headers += fmt::format("{}{}={}", headers.empty() ? "" : ", ", preview(k), preview(v));
          }
          what = fmt::format(
              "message id={} key=\"{}\" group=\"{}\" priority={} headers={{{}}} "
              "payload[{}]=\"{}\"",
              m->id, preview(m->key), preview(m->group), m->priority, headers, m->payload.size(),
              preview(m->payload));
          if (m->deliver_after_ns != 0)
            what += " deliver_after=" + format_time(m->deliver_after_ns);
          if (m->expires_at_ns != 0) what += " expires_at=" + format_time(m->expires_at_ns);
        } else if (auto s = decode_settlement(r.body)) {
          static constexpr const char* kNames[] = {
              "?",     "delivered", "acked",   "dead_lettered",    "dropped",
              "floor", "live",      "horizon", "snapshot_complete"};
          what = fmt::format("settlement {} seq={} attempts={}", kNames[static_cast<int>(s->kind)],
                             s->seq, s->attempts);
        } else {
          what = fmt::format("bytes[{}]=\"{}\"", r.body.size(), preview(r.body));
        }
        std::printf("offset %llu  at %zu  time %s  %s\n", static_cast<unsigned long long>(r.offset),
                    position, format_time(r.timestamp_ns).c_str(), what.c_str());
      });
  if (!scan) {
    std::printf("%s\n", scan.message().c_str());
    return kDamaged;
  }
  std::printf(
      "segment %s: format version %u, base offset %llu, created %s, owner %s, %llu records%s\n",
      file.c_str(), scan->header.version, static_cast<unsigned long long>(scan->header.base_offset),
      format_time(scan->header.created_ns).c_str(),
      scan->header.has_owner() ? scan->header.owner.describe().c_str() : "unrecorded (version 1)",
      static_cast<unsigned long long>(scan->records),
      shown > limit ? fmt::format(" ({} shown)", limit).c_str() : "");
  if (scan->damaged) {
    std::printf("damage: offset %zu: %s\n", scan->damage_at, scan->damage.c_str());
    return kDamaged;
  }
  return kClean;
}

int cmd_verify(const fs::path& path) {
  std::vector<std::string> problems, notes;
  std::uint64_t segments = 0, records = 0, checkpoints = 0;
  auto verify_checkpoint = [&](const fs::path& file) {
    ++checkpoints;
    auto bytes = read_file(file);
    if (!bytes) {
      problems.push_back(bytes.message());
      return;
    }
    auto image = decode_checkpoint_file(*bytes, file.string());
    if (!image) {
      problems.push_back(image.message());
      return;
    }
    // The records in their owner's encoding: the catalog's, else a topic's offsets (version 1
    // files name no owner: the file name says whose they are).
    const bool catalog =
        image->owner.kind == OwnerKind::catalog ||
        (image->owner.kind == OwnerKind::none && file.filename().string().starts_with("catalog-"));
    const std::string damage =
        catalog ? decode_catalog(*image).message() : decode_offsets(*image).message();
    if (!damage.empty()) problems.push_back(damage);
  };
  if (fs::is_regular_file(path)) {
    if (path.extension() == ".ckpt") {
      verify_checkpoint(path);
    } else {
      // A single segment: judged as if it were the last of its stream.
      auto r = examine_stream(path.parent_path());
      for (auto& p : r.problems) {
        if (p.starts_with(path.string())) problems.push_back(p);
      }
      for (auto& n : r.notes) {
        if (n.starts_with(path.string())) notes.push_back(n);
      }
      auto image = open_image(path);
      if (image) {
        if (auto scan = scan_segment(image->bytes(), path.string(), {}); scan) {
          records += scan->records;
        }
      }
      segments = 1;
    }
  } else if (fs::is_directory(path)) {
    for (const auto& dir : stream_dirs(path)) {
      auto r = examine_stream(dir);
      segments += r.segments;
      records += r.records;
      problems.insert(problems.end(), r.problems.begin(), r.problems.end());
      notes.insert(notes.end(), r.notes.begin(), r.notes.end());
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->path().extension() == ".ckpt") verify_checkpoint(it->path());
    }
  } else {
    std::fprintf(stderr, "%s: no such file or directory\n", path.c_str());
    return kError;
  }
  for (const auto& p : problems) std::printf("CORRUPT %s\n", p.c_str());
  for (const auto& n : notes) std::printf("TORN    %s\n", n.c_str());
  std::printf("verified %llu segment(s), %llu record(s), %llu checkpoint(s): %s\n",
              static_cast<unsigned long long>(segments), static_cast<unsigned long long>(records),
              static_cast<unsigned long long>(checkpoints),
              problems.empty() ? (notes.empty() ? "all CRCs match" : "torn tail only") : "DAMAGED");
  return problems.empty() && notes.empty() ? kClean : kDamaged;
}

int cmd_stats(const fs::path& dir) {
  if (segments_of(dir).empty()) {
    std::fprintf(stderr, "%s: no segment files\n", dir.c_str());
    return kError;
  }
  const auto r = examine_stream(dir);
  std::printf("stream %s\n", dir.c_str());
  std::printf("  segments            %llu\n", static_cast<unsigned long long>(r.segments));
  std::printf("  records             %llu\n", static_cast<unsigned long long>(r.records));
  std::printf("  offsets             [%llu, %llu)\n",
              static_cast<unsigned long long>(r.first_offset),
              static_cast<unsigned long long>(r.end_offset));
  std::printf("  bytes               %llu\n", static_cast<unsigned long long>(r.bytes));
  std::printf("  torn tail bytes     %llu\n", static_cast<unsigned long long>(r.torn_tail_bytes));
  std::printf("  corrupt regions     %llu (%llu bytes)\n",
              static_cast<unsigned long long>(r.salvageable_regions),
              static_cast<unsigned long long>(r.salvageable_bytes));
  for (const auto& p : r.problems) std::printf("  CORRUPT %s\n", p.c_str());
  for (const auto& n : r.notes) std::printf("  TORN    %s\n", n.c_str());
  std::printf("  recovery would %s\n",
              r.problems.empty() ? (r.notes.empty() ? "open it as is" : "truncate the torn tail")
                                 : "refuse it (Errc::corrupt) unless salvage mode is on");
  return r.problems.empty() && r.notes.empty() ? kClean : kDamaged;
}

int usage() {
  std::fprintf(stderr,
               "usage: switchyard-inspect list DATA_DIR\n"
               "       switchyard-inspect dump SEGMENT_FILE [--limit N]\n"
               "       switchyard-inspect verify PATH\n"
               "       switchyard-inspect stats STREAM_DIR\n"
               "Read-only. Exit status: 0 clean, 1 damage found, 2 usage or I/O error.\n");
  return kError;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string command = argv[1];
  const fs::path path = argv[2];
  if (command == "list" && argc == 3) return cmd_list(path);
  if (command == "dump") {
    std::uint64_t limit = UINT64_MAX;
    if (argc == 5 && std::string(argv[3]) == "--limit") {
      limit = std::strtoull(argv[4], nullptr, 10);
    } else if (argc != 3) {
      return usage();
    }
    return cmd_dump(path, limit);
  }
  if (command == "verify" && argc == 3) return cmd_verify(path);
  if (command == "stats" && argc == 3) return cmd_stats(path);
  return usage();
}
