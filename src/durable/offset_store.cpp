#include "durable/offset_store.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

using offset_record::kFixedSize;

CheckpointRecords encode_offsets(const OffsetMap& offsets) {
  std::size_t body = 0;
  for (const auto& [key, value] : offsets) {
    body += kFixedSize + key.first.size() + value.metadata.size();
  }
  CheckpointRecords out{static_cast<std::uint32_t>(offsets.size()), std::vector<std::byte>(body)};
  std::byte* p = out.bytes.data();
  for (const auto& [key, value] : offsets) {
    store<std::uint32_t>(p, static_cast<std::uint32_t>(key.first.size()));
    store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(value.metadata.size()));
    store<std::uint32_t>(p + 8, key.second);
    store<std::uint64_t>(p + 16, value.offset);
    p += kFixedSize;
    if (!key.first.empty()) std::memcpy(p, key.first.data(), key.first.size());
    p += key.first.size();
    if (!value.metadata.empty()) std::memcpy(p, value.metadata.data(), value.metadata.size());
    p += value.metadata.size();
  }
  return out;
}

Result<OffsetMap> decode_offsets(const CheckpointImage& image) {
  const std::span<const std::byte> body = image.records;
  const std::size_t at = image.records_at;  // file offset of body[0], for messages
  OffsetMap out;
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < image.record_count; ++i) {
    if (body.size() - pos < kFixedSize) {
      return image.corrupt(at + pos, "entry header past the body");
    }
    const std::byte* p = body.data() + pos;
    const auto group_size = load<std::uint32_t>(p);
    const auto meta_size = load<std::uint32_t>(p + 4);
    const auto partition = load<std::uint32_t>(p + 8);
    const auto offset = load<std::uint64_t>(p + 16);
    pos += kFixedSize;
    if (std::uint64_t{group_size} + meta_size > body.size() - pos) {
      return image.corrupt(at + pos - kFixedSize, "entry strings run past the body");
    }
    std::string group(reinterpret_cast<const char*>(body.data() + pos), group_size);
    pos += group_size;
    std::string meta(reinterpret_cast<const char*>(body.data() + pos), meta_size);
    pos += meta_size;
    out[{std::move(group), partition}] = CommittedOffset{offset, std::move(meta)};
  }
  if (pos != body.size()) {
    return image.corrupt(at + pos, fmt::format("{} bytes after the last entry", body.size() - pos));
  }
  return out;
}

std::vector<std::byte> encode_offset_checkpoint(const OffsetMap& offsets, std::uint64_t generation,
                                                const StorageOwner& owner) {
  return encode_checkpoint_file(encode_offsets(offsets), generation, owner);
}

Result<DecodedOffsets> decode_offset_checkpoint(std::span<const std::byte> file,
                                                std::string_view path) {
  auto image = decode_checkpoint_file(file, path);
  if (!image) return image.failure();
  auto offsets = decode_offsets(*image);
  if (!offsets) return offsets.failure();
  return DecodedOffsets{image->version, image->generation, image->owner, std::move(*offsets)};
}

Result<OffsetStore> OffsetStore::open(const std::filesystem::path& dir, std::string name,
                                      FaultInjector* faults, StorageOwner owner) {
  OffsetMap loaded;
  auto file = CheckpointFile::open(dir, std::move(name), faults, std::move(owner), "offset",
                                   [&](const CheckpointImage& image) -> Status {
                                     auto offsets = decode_offsets(image);
                                     if (!offsets) return offsets.failure();
                                     loaded = std::move(*offsets);
                                     return {};
                                   });
  if (!file) return file.failure();
  return OffsetStore(std::move(*file), std::move(loaded));
}

Status OffsetStore::commit(const OffsetMap& offsets) {
  if (auto status = file_.commit(encode_offsets(offsets)); !status) return status;
  offsets_ = offsets;
  return {};
}

Result<OffsetStore> OffsetStore::open_topic(const std::filesystem::path& dir,
                                            std::string_view topic) {
  return open(dir, "offsets", nullptr,
              StorageOwner::of(OwnerKind::topic, StreamRole::offsets, topic, 0));
}

std::optional<std::uint64_t> OffsetStore::find(std::string_view group,
                                               std::uint32_t partition) const {
  auto it = offsets_.find(std::make_pair(std::string(group), partition));
  if (it == offsets_.end()) return std::nullopt;
  return it->second.offset;
}

std::vector<std::string> OffsetStore::groups() const {
  std::vector<std::string> out;
  for (const auto& [key, committed] : offsets_) {
    if (out.empty() || out.back() != key.first) out.push_back(key.first);  // keys sort by group
  }
  return out;
}

std::vector<std::uint64_t> OffsetStore::groups_per_partition(std::uint32_t partitions) const {
  std::vector<std::uint64_t> out(partitions, 0);
  for (const auto& [key, committed] : offsets_) {
    if (key.second < partitions) ++out[key.second];
  }
  return out;
}

Status OffsetStore::commit(const std::string& group,
                           std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets) {
  OffsetMap next = offsets_;
  for (const auto& [partition, offset] : offsets) {
    next[std::make_pair(group, partition)].offset = offset;
  }
  return commit(next);
}

}  // namespace switchyard::detail
