#include "broker/catalog_records.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

using catalog_record::kFixedSize;

CheckpointRecords encode_catalog(const CatalogEntries& entries) {
  std::size_t body = 0;
  for (const auto& [key, text] : entries) body += kFixedSize + key.size() + text.size();
  CheckpointRecords out{static_cast<std::uint32_t>(entries.size()), std::vector<std::byte>(body)};
  std::byte* p = out.bytes.data();  // zeroed: the reserved bytes
  for (const auto& [key, text] : entries) {
    store<std::uint32_t>(p, static_cast<std::uint32_t>(key.size()));
    store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(text.size()));
    p += kFixedSize;
    if (!key.empty()) std::memcpy(p, key.data(), key.size());
    p += key.size();
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    p += text.size();
  }
  return out;
}

Result<CatalogEntries> decode_catalog(const CheckpointImage& image) {
  const std::span<const std::byte> body = image.records;
  const std::size_t at = image.records_at;  // file offset of body[0], for messages
  CatalogEntries out;
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < image.record_count; ++i) {
    if (body.size() - pos < kFixedSize) {
      return image.corrupt(at + pos, "entry header past the body");
    }
    const auto key_size = load<std::uint32_t>(body.data() + pos);
    const auto text_size = load<std::uint32_t>(body.data() + pos + 4);
    pos += kFixedSize;
    if (std::uint64_t{key_size} + text_size > body.size() - pos) {
      return image.corrupt(at + pos - kFixedSize, "entry strings run past the body");
    }
    std::string key(reinterpret_cast<const char*>(body.data() + pos), key_size);
    pos += key_size;
    out[std::move(key)] = std::string(reinterpret_cast<const char*>(body.data() + pos), text_size);
    pos += text_size;
  }
  if (pos != body.size()) {
    return image.corrupt(at + pos, fmt::format("{} bytes after the last entry", body.size() - pos));
  }
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
