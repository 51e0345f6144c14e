#include "broker/catalog_records.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

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
