#include "broker/catalog_records.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string unescape(std::string_view value) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size() && hex_digit(value[i + 1]) >= 0 &&
        hex_digit(value[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(value[i + 1]) * 16 + hex_digit(value[i + 2])));
      i += 2;
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

}  // namespace

CheckpointRecords encode_catalog(const CatalogEntries& entries) {
  CheckpointEntryWriter out;
  for (const auto& [key, text] : entries) out.add({.name = key, .text = text});
  return std::move(out).done();
}

Result<CatalogEntries> decode_catalog(const CheckpointImage& image) {
  auto entries = decode_entries(image);
  if (!entries) return entries.failure();
  CatalogEntries out;
  for (const CheckpointEntry& e : *entries) out[std::string(e.name)] = std::string(e.text);
  return out;
}

CatalogFields decode_catalog_fields(std::string_view text) {
  CatalogFields fields;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    const std::size_t eq = line.find('=');
    if (eq != std::string_view::npos) {
      fields.emplace(std::string(line.substr(0, eq)), unescape(line.substr(eq + 1)));
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return fields;
}

Result<CheckpointFile> open_catalog_file(const std::filesystem::path& data_dir,
                                         CatalogEntries& entries) {
  return CheckpointFile::open(data_dir, "catalog", nullptr, StorageOwner::catalog(), "catalog",
                              [&](const CheckpointImage& image) -> Status {
                                auto decoded = decode_catalog(image);
                                if (!decoded) return decoded.failure();
                                entries = std::move(*decoded);
                                return {};
                              });
}

}  // namespace switchyard::detail
