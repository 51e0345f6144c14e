#include "inspect/commands.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <fmt/format.h>

#include "broker/catalog_records.hpp"
#include "durable/offset_store.hpp"
#include "inspect/data_directory.hpp"
#include "inspect/pending.hpp"
#include "inspect/stream.hpp"
#include "inspect/text.hpp"
#include "storage/checkpoint_file.hpp"

namespace switchyard::inspect {

using namespace switchyard::detail;

int fail(const std::string& message) {
  std::fprintf(stderr, "switchyard-inspect: %s\n", message.c_str());
  return kError;
}

namespace {

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}
void print_json(const Json& j) {
  print(j.dump(2) + "\n");
}
void print_json_line(const Json& j) {
  print(j.dump() + "\n");
}

/// Rows of text in aligned columns (the last column is not padded).
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], width[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string str(std::uint64_t n) {
  return std::to_string(n);
}

/// The streams of a destination: (label, directory) — a queue's messages and settlement
/// generations, a topic's partitions.
std::vector<std::pair<std::string, fs::path>> streams_of(const StoredDestination& d) {
  std::vector<std::pair<std::string, fs::path>> out;
  if (d.kind == DestinationKind::topic) {
    for (std::uint32_t p = 0; p < d.partitions; ++p) {
      out.emplace_back(fmt::format("p{}", p), d.stream_dir(p));
    }
    return out;
  }
  out.emplace_back("messages", d.stream_dir(0));
  std::vector<fs::path> generations;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d.dir, ec)) {
    if (e.is_directory(ec) && e.path().filename().string().starts_with("acks-")) {
      generations.push_back(e.path());
    }
  }
  std::sort(generations.begin(), generations.end());
  for (const auto& g : generations) out.emplace_back(g.filename().string(), g);
  return out;
}

Result<DataDirectory> open_data_directory(const fs::path& dir) {
  return DataDirectory::open(dir);
}

/// Every directory under `root` (and `root` itself) that holds segment files.
std::vector<fs::path> stream_dirs(const fs::path& root) {
  std::vector<fs::path> out;
  if (!segments_of(root).empty()) out.push_back(root);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && !segments_of(it->path()).empty()) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// --- list ------------------------------------------------------------------------------------

int cmd_list(const fs::path& dir, const Common& common) {
  auto data = open_data_directory(dir);
  if (!data) return fail(data.message());
  Json all = Json::array();
  std::vector<std::vector<std::string>> rows{
      {"NAME", "KIND", "DURABILITY", "PARTITIONS", "RECORDS", "BYTES", "PENDING"}};
  int status = kClean;
  for (const auto& d : data->destinations()) {
    Json j;
    j["name"] = json_text(d.name);
    j["kind"] = to_string(d.kind);
    j["durability"] = json_text(d.durability);
    j["partitions"] = d.partitions;
    std::uint64_t records = 0, bytes = 0;
    Json partitions = Json::array();
    for (std::uint32_t p = 0; p < d.partitions; ++p) {
      const auto r = examine_stream(d.stream_dir(p));
      records += r.records;
      bytes += r.bytes;
      if (!r.problems.empty()) status = kDamaged;
      if (d.kind == DestinationKind::topic) {
        partitions.push_back({{"partition", p},
                              {"start_offset", r.first_offset},
                              {"end_offset", r.end_offset},
                              {"records", r.records},
                              {"bytes", r.bytes}});
      }
    }
    j["records"] = records;
    j["bytes"] = bytes;
    std::string pending = "-";
    if (d.kind == DestinationKind::queue) {
      auto p = pending_messages(d, /*salvage=*/false);
      if (p) {
        j["pending"] = p->messages.size();
        pending = str(p->messages.size());
      } else {
        j["pending"] = nullptr;
        j["error"] = json_text(p.message());
        pending = "? (" + std::string(to_string(p.code())) + ")";
        status = kDamaged;
      }
    } else {
      j["partition_offsets"] = std::move(partitions);
    }
    rows.push_back({readable(d.name, false), to_string(d.kind), d.durability, str(d.partitions),
                    str(records), str(bytes), pending});
    all.push_back(std::move(j));
  }
  if (common.json) {
    print_json({{"catalog_generation", data->catalog().generation}, {"destinations", all}});
  } else {
    print(table(rows));
  }
  return status;
}

// --- catalog ---------------------------------------------------------------------------------

int cmd_catalog(const fs::path& dir, const Common& common) {
  auto data = open_data_directory(dir);
  if (!data) return fail(data.message());
  const auto& catalog = data->catalog();
  Json declarations = Json::array();
  std::string text = catalog.generation == 0
                         ? std::string("no catalog\n")
                         : fmt::format("catalog generation {} ({} declaration(s))\n",
                                       catalog.generation, catalog.declarations.size());
  for (const auto& damaged : catalog.damaged) text += "fell back past: " + damaged + "\n";
  for (const auto& d : catalog.declarations) {
    Json fields = Json::object();
    text += d.kind == "binding" ? "binding\n" : fmt::format("{} {}\n", d.kind, readable(d.name));
    for (const auto& [name, value] : d.fields) {
      fields[json_text(name)] = json_text(value);
      text += fmt::format("  {} = \"{}\"\n", readable(name), readable(value));
    }
    Json j{{"kind", json_text(d.kind)}};
    if (d.kind != "binding") j["name"] = json_text(d.name);
    j["fields"] = std::move(fields);
    declarations.push_back(std::move(j));
  }
  if (common.json) {
    Json damaged = Json::array();
    for (const auto& line : catalog.damaged) damaged.push_back(json_text(line));
    print_json({{"generation", catalog.generation},
                {"fell_back_past", damaged},
                {"declarations", declarations}});
  } else {
    print(text);
  }
  return catalog.damaged.empty() ? kClean : kDamaged;
}

// --- offsets ---------------------------------------------------------------------------------

int cmd_offsets(const fs::path& dir, const std::optional<std::string>& topic_name,
                const std::optional<std::string>& group_name, const Common& common) {
  auto data = open_data_directory(dir);
  if (!data) return fail(data.message());
  if (topic_name) {
    if (auto found = data->find(*topic_name, DestinationKind::topic); !found) {
      return fail(found.message());
    }
  }
  int status = kClean;
  Json topics = Json::array();
  std::vector<std::vector<std::string>> rows{
      {"TOPIC", "GROUP", "PARTITION", "COMMITTED", "END", "LAG", "METADATA"}};
  for (const auto& d : data->destinations()) {
    if (d.kind != DestinationKind::topic || (topic_name && d.name != *topic_name)) continue;
    std::vector<std::uint64_t> ends;
    Json partitions = Json::array();
    for (std::uint32_t p = 0; p < d.partitions; ++p) {
      const auto r = examine_stream(d.stream_dir(p));
      ends.push_back(r.end_offset);
      partitions.push_back(
          {{"partition", p}, {"start_offset", r.first_offset}, {"end_offset", r.end_offset}});
    }
    std::vector<std::string> damaged;
    auto offsets = DataDirectory::offsets(d, &damaged);
    Json t{{"topic", json_text(d.name)}, {"partitions", partitions}};
    if (!offsets) {
      t["error"] = json_text(offsets.message());
      rows.push_back({readable(d.name, false), "?", "-", "-", "-", "-", offsets.message()});
      topics.push_back(std::move(t));
      status = kDamaged;
      continue;
    }
    if (!damaged.empty()) status = kDamaged;
    Json groups = Json::array();
    Json* group = nullptr;
    std::uint64_t group_lag = 0;
    for (const auto& [where, committed] : *offsets) {
      const auto& [name, partition] = where;
      if (group_name && name != *group_name) continue;
      if (group == nullptr || (*group)["group"] != json_text(name)) {
        if (group != nullptr) (*group)["lag"] = group_lag;
        groups.push_back({{"group", json_text(name)}, {"partitions", Json::array()}});
        group = &groups.back();
        group_lag = 0;
      }
      const bool known = partition < ends.size();
      const std::uint64_t end = known ? ends[partition] : 0;
      const std::uint64_t lag = end > committed.offset ? end - committed.offset : 0;
      group_lag += lag;
      Json row{{"partition", partition}, {"committed", committed.offset}};
      if (known) {
        row["end_offset"] = end;
        row["lag"] = lag;
      } else {
        row["error"] = "the topic has no such partition";
      }
      row["metadata"] = json_text(committed.metadata);
      (*group)["partitions"].push_back(std::move(row));
      rows.push_back({readable(d.name, false), readable(name, false), str(partition),
                      str(committed.offset), known ? str(end) : "?", known ? str(lag) : "?",
                      readable(committed.metadata, false)});
    }
    if (group != nullptr) (*group)["lag"] = group_lag;
    t["groups"] = std::move(groups);
    Json fell = Json::array();
    for (const auto& line : damaged) fell.push_back(json_text(line));
    t["fell_back_past"] = std::move(fell);
    topics.push_back(std::move(t));
  }
  if (common.json) {
    print_json({{"topics", topics}});
  } else {
    print(table(rows));
  }
  return status;
}

// --- dump ------------------------------------------------------------------------------------

namespace {

/// Whether `filter` keeps a record at `offset`, `time` — and, for messages, with `key`.
bool in_range(const RecordFilter& f, std::uint64_t offset, std::int64_t time) {
  if (offset < f.from_offset || (f.to_offset && offset >= *f.to_offset)) return false;
  if ((f.from_time && time < *f.from_time) || (f.to_time && time >= *f.to_time)) return false;
  return true;
}

/// Shows the records of one segment file, and its header and what a scan found.
int dump_file(const fs::path& file, const RecordFilter& filter, const Common& common) {
  auto image = open_image(file);
  if (!image) return fail(image.message());
  std::uint64_t shown = 0, matched = 0;
  auto scan = scan_segment(
      image->bytes(), file.string(), {.salvage = true},
      [&](const RecordView& r, std::size_t position) {
        if (!in_range(filter, r.offset, r.timestamp_ns)) return;
        Shown s = show_record(
            {.partition = {}, .offset = r.offset, .timestamp_ns = r.timestamp_ns, .attempts = {}},
            r.body, filter.payload);
        if (filter.key && (!s.json.contains("key") || s.json["key"] != json_text(*filter.key))) {
          return;
        }
        if (filter.limit && matched++ >= *filter.limit) return;
        ++shown;
        s.json["position"] = position;
        if (common.json) {
          print_json_line(s.json);
        } else {
          print(fmt::format("{}  (at byte {})\n", s.line, position));
        }
      });
  if (!scan) {
    if (common.json) {
      print_json_line({{"type", "segment"}, {"error", json_text(scan.message())}});
    } else {
      print(scan.message() + "\n");
    }
    return kDamaged;
  }
  const std::string owner =
      scan->header.has_owner() ? scan->header.owner.describe() : "unrecorded (version 1)";
  if (common.json) {
    Json j{{"type", "segment"},
           {"file", json_text(file.string())},
           {"format_version", scan->header.version},
           {"base_offset", scan->header.base_offset},
           {"created", format_time(scan->header.created_ns)},
           {"owner", json_text(owner)},
           {"records", scan->records},
           {"shown", shown}};
    if (scan->damaged) {
      j["damage_at"] = scan->damage_at;
      j["damage"] = json_text(scan->damage);
    }
    print_json_line(j);
  } else {
    print(fmt::format(
        "segment {}: format version {}, base offset {}, created {}, owner {}, {} records{}\n",
        file.string(), scan->header.version, scan->header.base_offset,
        format_time(scan->header.created_ns), owner, scan->records,
        shown < scan->records ? fmt::format(" ({} shown)", shown) : ""));
    if (scan->damaged) print(fmt::format("damage: offset {}: {}\n", scan->damage_at, scan->damage));
  }
  return scan->damaged ? kDamaged : kClean;
}

}  // namespace

int cmd_dump(const fs::path& path, const std::optional<std::string>& destination,
             const RecordFilter& filter, const Common& common) {
  std::error_code ec;
  if (!destination) {
    if (fs::is_regular_file(path, ec)) return dump_file(path, filter, common);
    return fail(
        fmt::format("{}: dump needs a segment file, or a data directory and "
                    "--destination NAME",
                    path.string()));
  }
  auto data = open_data_directory(path);
  if (!data) return fail(data.message());
  auto found = data->find(*destination);
  if (!found) return fail(found.message());
  const StoredDestination& d = **found;
  if (filter.partition && *filter.partition >= d.partitions) {
    return fail(fmt::format("{} '{}' has {} partition(s): no partition {}", to_string(d.kind),
                            d.name, d.partitions, *filter.partition));
  }
  std::uint64_t shown = 0;
  std::vector<std::string> damage;
  for (std::uint32_t p = 0; p < d.partitions; ++p) {
    if (filter.partition && p != *filter.partition) continue;
    if (filter.limit && shown >= *filter.limit) break;
    auto found_damage =
        for_each_record(d.stream_dir(p), filter.from_offset, [&](const RecordView& r) {
          if (filter.to_offset && r.offset >= *filter.to_offset) return false;
          if (!in_range(filter, r.offset, r.timestamp_ns)) return true;
          std::optional<std::uint32_t> partition;
          if (d.kind == DestinationKind::topic) partition = p;
          Shown s = show_record({.partition = partition,
                                 .offset = r.offset,
                                 .timestamp_ns = r.timestamp_ns,
                                 .attempts = {}},
                                r.body, filter.payload);
          if (filter.key && (!s.json.contains("key") || s.json["key"] != json_text(*filter.key))) {
            return true;
          }
          print(common.json ? s.json.dump() + "\n" : s.line + "\n");
          ++shown;
          return !filter.limit || shown < *filter.limit;
        });
    damage.insert(damage.end(), found_damage.begin(), found_damage.end());
  }
  if (common.json) {
    Json lines = Json::array();
    for (const auto& line : damage) lines.push_back(json_text(line));
    print_json_line({{"type", "summary"},
                     {"destination", json_text(d.name)},
                     {"shown", shown},
                     {"damage", lines}});
  } else {
    for (const auto& line : damage) print("damage: " + line + "\n");
    print(fmt::format("{} record(s) shown\n", shown));
  }
  return damage.empty() ? kClean : kDamaged;
}

// --- pending ---------------------------------------------------------------------------------

int cmd_pending(const fs::path& dir, const std::string& queue, const RecordFilter& filter,
                bool salvage, const Common& common) {
  auto data = open_data_directory(dir);
  if (!data) return fail(data.message());
  auto found = data->find(queue, DestinationKind::queue);
  if (!found) return fail(found.message());
  auto pending = pending_messages(**found, salvage);
  if (!pending) {
    fail(fmt::format("{}: {}", to_string(pending.code()), pending.message()));
    return pending.code() == Errc::corrupt ? kDamaged : kError;
  }
  std::uint64_t shown = 0;
  for (const auto& m : pending->messages) {
    if (!in_range(filter, m.seq, m.message.timestamp_ns)) continue;
    if (filter.key && m.message.key != *filter.key) continue;
    if (filter.limit && shown >= *filter.limit) break;
    Shown s = show_message({.partition = {},
                            .offset = m.seq,
                            .timestamp_ns = m.message.timestamp_ns,
                            .attempts = m.attempts},
                           m.message, filter.payload);
    print(common.json ? s.json.dump() + "\n" : s.line + "\n");
    ++shown;
  }
  if (common.json) {
    Json events = Json::array();
    for (const auto& e : pending->events) events.push_back(json_text(e));
    print_json_line({{"type", "summary"},
                     {"queue", json_text(queue)},
                     {"pending", pending->messages.size()},
                     {"shown", shown},
                     {"recovery_events", events}});
  } else {
    for (const auto& e : pending->events) print("recovery: " + e + "\n");
    print(fmt::format("{} pending message(s), {} shown\n", pending->messages.size(), shown));
  }
  return pending->events.empty() ? kClean : kDamaged;
}

// --- stats -----------------------------------------------------------------------------------

namespace {

Json report_json(const StreamReport& r) {
  Json problems = Json::array(), notes = Json::array();
  for (const auto& p : r.problems) problems.push_back(json_text(p));
  for (const auto& n : r.notes) notes.push_back(json_text(n));
  return {{"segments", r.segments},
          {"records", r.records},
          {"bytes", r.bytes},
          {"start_offset", r.first_offset},
          {"end_offset", r.end_offset},
          {"first_time", format_time(r.first_time_ns)},
          {"last_time", format_time(r.last_time_ns)},
          {"torn_tail_bytes", r.torn_tail_bytes},
          {"corrupt_regions", r.salvageable_regions},
          {"corrupt_bytes", r.salvageable_bytes},
          {"recovery", r.problems.empty() ? (r.notes.empty() ? "open as is" : "truncate torn tail")
                                          : "refuse (corrupt) unless salvage"},
          {"problems", problems},
          {"notes", notes}};
}

}  // namespace

int cmd_stats(const fs::path& path, const Common& common) {
  std::error_code ec;
  std::vector<std::tuple<std::string, std::string, fs::path>> streams;  // destination, stream
  fs::path root = path;
  if (!segments_of(path).empty()) {
    streams.emplace_back("", ".", path);  // one stream's directory
  } else {
    auto data = open_data_directory(path);
    if (!data) return fail(data.message());
    std::set<fs::path> known;
    for (const auto& d : data->destinations()) {
      for (auto& [label, dir] : streams_of(d)) {
        known.insert(dir);
        streams.emplace_back(d.name, label, dir);
      }
    }
    // Streams the catalog does not list (left behind, or written without a broker): shown
    // by their directory, under destination "?".
    for (const auto& dir : stream_dirs(path)) {
      if (!known.contains(dir)) streams.emplace_back("?", shown_path(dir, path), dir);
    }
  }
  int status = kClean;
  Json all = Json::array();
  std::vector<std::vector<std::string>> rows{{"DESTINATION", "STREAM", "SEGMENTS", "RECORDS",
                                              "BYTES", "OFFSETS", "TORN", "CORRUPT", "RECOVERY"}};
  std::string details;
  StreamReport total;
  for (const auto& [name, label, dir] : streams) {
    const auto r = examine_stream(dir);
    if (!r.problems.empty() || !r.notes.empty()) status = kDamaged;
    Json j = report_json(r);
    j["destination"] = json_text(name);
    j["stream"] = json_text(label);
    j["directory"] = json_text(shown_path(dir, root));
    rows.push_back({name.empty() ? "-" : readable(name, false), label, str(r.segments),
                    str(r.records), str(r.bytes),
                    fmt::format("[{}, {})", r.first_offset, r.end_offset), str(r.torn_tail_bytes),
                    fmt::format("{} ({} bytes)", r.salvageable_regions, r.salvageable_bytes),
                    j["recovery"].get<std::string>()});
    for (const auto& p : r.problems) details += "CORRUPT " + p + "\n";
    for (const auto& n : r.notes) details += "TORN    " + n + "\n";
    total.segments += r.segments;
    total.records += r.records;
    total.bytes += r.bytes;
    total.torn_tail_bytes += r.torn_tail_bytes;
    all.push_back(std::move(j));
  }
  if (common.json) {
    print_json({{"streams", all},
                {"total",
                 {{"streams", streams.size()},
                  {"segments", total.segments},
                  {"records", total.records},
                  {"bytes", total.bytes},
                  {"torn_tail_bytes", total.torn_tail_bytes}}}});
  } else {
    print(table(rows) + details +
          fmt::format(
              "{} stream(s), {} segment(s), {} record(s), {} bytes: recovery would {}\n",
              streams.size(), total.segments, total.records, total.bytes,
              status == kClean ? "open every stream as is" : "repair or refuse the streams above"));
  }
  return status;
}

// --- verify ----------------------------------------------------------------------------------

namespace {

/// What a checkpoint file holds, checked by its owner's codec: "catalog" or "offsets", or the
/// damage.
Result<std::string> verify_checkpoint(const fs::path& file) {
  auto bytes = read_file(file);
  if (!bytes) return bytes.failure();
  auto image = decode_checkpoint_file(*bytes, file.string());
  if (!image) return image.failure();
  // The owner says whose records these are; a version 1 file names none: its file name does.
  const bool catalog =
      image->owner.kind == OwnerKind::catalog ||
      (image->owner.kind == OwnerKind::none && file.filename().string().starts_with("catalog-"));
  if (catalog) {
    auto decoded = decode_catalog(*image);
    if (!decoded) return decoded.failure();
    return fmt::format("catalog, generation {}, {} declaration(s)", image->generation,
                       decoded->size());
  }
  auto decoded = decode_offsets(*image);
  if (!decoded) return decoded.failure();
  return fmt::format("group offsets, generation {}, {} commit(s)", image->generation,
                     decoded->size());
}

}  // namespace

int cmd_verify(const fs::path& path, const Common& common) {
  std::vector<std::string> problems, notes, checked;
  std::uint64_t segments = 0, records = 0, checkpoints = 0;
  std::error_code ec;
  auto checkpoint = [&](const fs::path& file) {
    ++checkpoints;
    auto what = verify_checkpoint(file);
    if (what) {
      checked.push_back(fmt::format("{}: {}", file.string(), *what));
    } else {
      problems.push_back(what.message());
    }
  };
  if (fs::is_regular_file(path, ec)) {
    if (path.extension() == ".ckpt") {
      checkpoint(path);
    } else {
      // A single segment: judged as the stream's other segments would judge it.
      auto r = examine_stream(path.parent_path());
      for (auto& p : r.problems) {
        if (p.starts_with(path.string())) problems.push_back(p);
      }
      for (auto& n : r.notes) {
        if (n.starts_with(path.string())) notes.push_back(n);
      }
      if (auto image = open_image(path)) {
        if (auto scan = scan_segment(image->bytes(), path.string(), {}); scan) {
          records += scan->records;
        }
      }
      segments = 1;
    }
  } else if (fs::is_directory(path, ec)) {
    for (const auto& dir : stream_dirs(path)) {
      auto r = examine_stream(dir);
      segments += r.segments;
      records += r.records;
      problems.insert(problems.end(), r.problems.begin(), r.problems.end());
      notes.insert(notes.end(), r.notes.begin(), r.notes.end());
    }
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec) && it->path().extension() == ".ckpt") files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) checkpoint(f);
  } else {
    return fail(path.string() + ": no such file or directory");
  }
  const int status = problems.empty() && notes.empty() ? kClean : kDamaged;
  const std::string verdict =
      problems.empty() ? (notes.empty() ? "all CRCs match" : "torn tail only") : "DAMAGED";
  if (common.json) {
    auto list = [](const std::vector<std::string>& lines) {
      Json a = Json::array();
      for (const auto& l : lines) a.push_back(json_text(l));
      return a;
    };
    print_json({{"segments", segments},
                {"records", records},
                {"checkpoints", checkpoints},
                {"checked", list(checked)},
                {"corrupt", list(problems)},
                {"torn", list(notes)},
                {"verdict", verdict}});
  } else {
    std::string text;
    for (const auto& c : checked) text += "OK      " + c + "\n";
    for (const auto& p : problems) text += "CORRUPT " + p + "\n";
    for (const auto& n : notes) text += "TORN    " + n + "\n";
    text += fmt::format("verified {} segment(s), {} record(s), {} checkpoint(s): {}\n", segments,
                        records, checkpoints, verdict);
    print(text);
  }
  return status;
}

}  // namespace switchyard::inspect
