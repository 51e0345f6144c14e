// The owner block of segment and checkpoint headers. Layout: src/storage/storage_owner.hpp.
#include "storage/storage_owner.hpp"

#include <fmt/format.h>

#include "storage/segment_format.hpp"

namespace switchyard::detail {

using namespace owner_block;

namespace {
const char* kind_name(OwnerKind kind) noexcept {
  switch (kind) {
    case OwnerKind::none:
      return "no destination";
    case OwnerKind::queue:
      return "queue";
    case OwnerKind::topic:
      return "topic";
    case OwnerKind::catalog:
      return "catalog";
  }
  return "unknown kind";
}
const char* role_name(StreamRole role) noexcept {
  switch (role) {
    case StreamRole::none:
      return "no role";
    case StreamRole::records:
      return "records";
    case StreamRole::settlements:
      return "settlements";
    case StreamRole::offsets:
      return "offsets";
    case StreamRole::declarations:
      return "declarations";
  }
  return "unknown role";
}
}  // namespace

std::uint64_t owner_name_hash(std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

StorageOwner StorageOwner::of(OwnerKind kind, StreamRole role, std::string_view name,
                              std::uint32_t partition) {
  return {kind,
          role,
          partition,
          static_cast<std::uint32_t>(name.size()),
          owner_name_hash(name),
          std::string(name)};
}

std::string StorageOwner::describe() const {
  if (kind == OwnerKind::none) {
    return role == StreamRole::none ? "no owner" : fmt::format("no owner ({})", role_name(role));
  }
  const std::string who = name.empty() && name_length != 0
                              ? fmt::format("{} with a {}-byte name (hash {:#018x})",
                                            kind_name(kind), name_length, name_hash)
                              : fmt::format("{} '{}'", kind_name(kind), name);
  return fmt::format("{} partition {} ({})", who, partition, role_name(role));
}

void write_owner(std::span<std::byte> out, const StorageOwner& owner) noexcept {
  std::fill(out.begin(), out.begin() + kSize, std::byte{0});
  out[kKindOffset] = static_cast<std::byte>(owner.kind);
  out[kRoleOffset] = static_cast<std::byte>(owner.role);
  store<std::uint32_t>(out.data() + kPartitionOffset, owner.partition);
  store<std::uint32_t>(out.data() + kNameLengthOffset, owner.name_length);
  store<std::uint64_t>(out.data() + kNameHashOffset, owner.name_hash);
}

StorageOwner read_owner(std::span<const std::byte> in) noexcept {
  StorageOwner owner;
  owner.kind = static_cast<OwnerKind>(in[kKindOffset]);
  owner.role = static_cast<StreamRole>(in[kRoleOffset]);
  owner.partition = load<std::uint32_t>(in.data() + kPartitionOffset);
  owner.name_length = load<std::uint32_t>(in.data() + kNameLengthOffset);
  owner.name_hash = load<std::uint64_t>(in.data() + kNameHashOffset);
  return owner;
}

Status check_owner(const StorageOwner& claimed, const StorageOwner& expected, std::string_view path,
                   std::size_t block_offset) {
  if (claimed.same_as(expected)) return {};
  return Failure{Errc::corrupt,
                 fmt::format("{}: offset {}: file belongs to another stream: it claims {}, but "
                             "was found in the place of {} (moved or copied from elsewhere; "
                             "refusing to serve it)",
                             path, block_offset, claimed.describe(), expected.describe())};
}

}  // namespace switchyard::detail
