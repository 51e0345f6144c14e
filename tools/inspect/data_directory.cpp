#include "inspect/data_directory.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "broker/storage_context.hpp"

namespace switchyard::inspect {

using namespace switchyard::detail;

namespace {

std::string durability_name(std::string_view number) {
  if (number == "1") return "none";
  if (number == "2") return "batch";
  if (number == "3") return "always";
  if (number == "0") return "memory";
  return std::string(number);
}

}  // namespace

fs::path StoredDestination::stream_dir(std::uint32_t partition) const {
  if (kind == DestinationKind::queue) return dir / "messages";
  return dir / fmt::format("p{}", partition);
}

Result<DataDirectory> DataDirectory::open(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return Failure{Errc::io_error, fmt::format("{}: not a directory", root.string())};
  }
  DataDirectory d;
  d.root_ = root;
  CatalogEntries entries;
  auto file = open_catalog_file(root, entries);
  if (!file) return file.failure();
  d.catalog_.generation = file->generation();
  d.catalog_.damaged = file->recovery().damaged;
  for (const auto& [key, text] : entries) {
    Declaration decl;
    decl.key = key;
    const std::size_t colon = key.find(':');
    decl.kind = key.substr(0, colon);
    decl.fields = decode_catalog_fields(text);
    if (decl.kind != "binding" && colon != std::string::npos) decl.name = key.substr(colon + 1);
    if (decl.kind == "queue" || decl.kind == "topic") {
      StoredDestination s;
      s.kind = decl.kind == "queue" ? DestinationKind::queue : DestinationKind::topic;
      s.name = decl.name;
      s.dir = StorageContext::storage_dir(root, s.kind, s.name);
      if (auto it = decl.fields.find("durability"); it != decl.fields.end()) {
        s.durability = durability_name(it->second);
      }
      if (auto it = decl.fields.find("partitions"); it != decl.fields.end()) {
        std::uint32_t n = 0;
        const auto [end, err] =
            std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
        if (err == std::errc() && end == it->second.data() + it->second.size()) s.partitions = n;
      }
      d.destinations_.push_back(std::move(s));
    }
    d.catalog_.declarations.push_back(std::move(decl));
  }
  std::stable_sort(d.destinations_.begin(), d.destinations_.end(),
                   [](const StoredDestination& a, const StoredDestination& b) {
                     return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
                   });
  return d;
}

Result<const StoredDestination*> DataDirectory::find(std::string_view name,
                                                     std::optional<DestinationKind> kind) const {
  std::string known;
  for (const auto& d : destinations_) {
    if (d.name == name && (!kind || d.kind == *kind)) return &d;
    if (!kind || d.kind == *kind) known += fmt::format("{}'{}'", known.empty() ? "" : ", ", d.name);
  }
  return Failure{Errc::unknown_destination,
                 fmt::format("{}: no durable {} named '{}' in the catalog (it lists: {})",
                             root_.string(), kind ? to_string(*kind) : "queue or topic", name,
                             known.empty() ? "none" : known)};
}

Result<OffsetMap> DataDirectory::offsets(const StoredDestination& topic,
                                         std::vector<std::string>* damaged) {
  const fs::path dir = topic.dir / "offsets";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return OffsetMap{};  // never committed (and never create it)
  auto store = OffsetStore::open_topic(dir, topic.name);
  if (!store) return store.failure();
  if (damaged != nullptr) *damaged = store->damaged();
  return store->offsets();
}

std::string shown_path(const fs::path& path, const fs::path& root) {
  const auto rel = path.lexically_relative(root);
  if (rel.empty() || rel.native().starts_with("..")) return path.string();
  return rel.string();
}

}  // namespace switchyard::inspect
