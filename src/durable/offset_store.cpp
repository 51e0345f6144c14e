#include "durable/offset_store.hpp"

#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

CheckpointRecords encode_offsets(const OffsetMap& offsets) {
  CheckpointEntryWriter out;
  for (const auto& [key, committed] : offsets) {
    out.add({.name = key.first,
             .text = committed.metadata,
             .number = key.second,
             .value = committed.offset});
  }
  return std::move(out).done();
}

Result<OffsetMap> decode_offsets(const CheckpointImage& image) {
  auto entries = decode_entries(image);
  if (!entries) return entries.failure();
  OffsetMap out;
  for (const CheckpointEntry& e : *entries) {
    out[{std::string(e.name), e.number}] = CommittedOffset{e.value, std::string(e.text)};
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
