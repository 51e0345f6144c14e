// A durable topic's committed group offsets over an OffsetCheckpoint. Design: offset_store.hpp.
#include "durable/offset_store.hpp"

#include "storage/storage_owner.hpp"

namespace switchyard::detail {

Result<OffsetStore> OffsetStore::open(const std::filesystem::path& dir, std::string_view topic) {
  auto checkpoint = OffsetCheckpoint::open(
      dir, "offsets", nullptr, StorageOwner::of(OwnerKind::topic, StreamRole::offsets, topic, 0));
  if (!checkpoint) return checkpoint.failure();
  return OffsetStore(std::move(*checkpoint));
}

std::optional<std::uint64_t> OffsetStore::find(std::string_view group,
                                               std::uint32_t partition) const {
  const auto& offsets = checkpoint_.offsets();
  auto it = offsets.find(std::make_pair(std::string(group), partition));
  if (it == offsets.end()) return std::nullopt;
  return it->second.offset;
}

std::vector<std::string> OffsetStore::groups() const {
  std::vector<std::string> out;
  for (const auto& [key, committed] : checkpoint_.offsets()) {
    if (out.empty() || out.back() != key.first) out.push_back(key.first);  // keys sort by group
  }
  return out;
}

std::vector<std::uint64_t> OffsetStore::groups_per_partition(std::uint32_t partitions) const {
  std::vector<std::uint64_t> out(partitions, 0);
  for (const auto& [key, committed] : checkpoint_.offsets()) {
    if (key.second < partitions) ++out[key.second];
  }
  return out;
}

Status OffsetStore::commit(const std::string& group,
                           std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets) {
  OffsetMap next = checkpoint_.offsets();
  for (const auto& [partition, offset] : offsets) {
    next[std::make_pair(group, partition)].offset = offset;
  }
  return checkpoint_.commit(next);
}

}  // namespace switchyard::detail
