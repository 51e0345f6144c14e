// src/storage/storage_owner.hpp — whose a persisted file is: the owner block that segment
// and checkpoint headers carry from format version 2 on. Prose spec: docs/storage.md.
//
// Owner block (kOwnerBlockSize = 24 bytes, little-endian; at byte 32 of a segment header and
// of a checkpoint header)
//
//    0    1    2         4                   8
//    +----+----+---------+-------------------+
//    |kind|role| 0 (u16) |  partition (u32)  |  0
//    +----+----+---------+-------------------+
//    |  name length (u32)|  0 (u32)          |  8
//    +-------------------+-------------------+
//    |  name hash (u64, FNV-1a 64 of the name bytes)  | 16
//    +-----------------------------------------------+ 24
//
//   kind: 0 none (a stream opened without an owner: tests, tools), 1 queue, 2 topic, 3 the
//         broker's catalog
//   role: 0 none, 1 records (a queue's message log, a topic partition's log),
//         2 settlements (a queue's settlement log), 3 offsets (a topic's committed offsets),
//         4 declarations (the catalog)
//   partition: the topic partition; 0 for everything else
//
// A fixed-size block keeps the segment header at 64 bytes: the name is identified by its
// length and a 64-bit hash, not stored. Two names collide only if both agree (2^-64 per pair).
// The block is covered by its header's CRC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "switchyard/error.hpp"

namespace switchyard::detail {

enum class OwnerKind : std::uint8_t { none = 0, queue = 1, topic = 2, catalog = 3 };
enum class StreamRole : std::uint8_t {
  none = 0,
  records = 1,
  settlements = 2,
  offsets = 3,
  declarations = 4
};

namespace owner_block {
inline constexpr std::size_t kSize = 24;
inline constexpr std::size_t kKindOffset = 0;
inline constexpr std::size_t kRoleOffset = 1;
inline constexpr std::size_t kPartitionOffset = 4;
inline constexpr std::size_t kNameLengthOffset = 8;
inline constexpr std::size_t kNameHashOffset = 16;
}  // namespace owner_block

/// The owner of a stream or checkpoint file. `name` is kept for messages only (a block read
/// from a file has no name, only its length and hash).
struct StorageOwner {
  OwnerKind kind = OwnerKind::none;
  StreamRole role = StreamRole::none;
  std::uint32_t partition = 0;
  std::uint32_t name_length = 0;
  std::uint64_t name_hash = 0;
  std::string name;

  static StorageOwner of(OwnerKind kind, StreamRole role, std::string_view name,
                         std::uint32_t partition);
  /// The broker catalog's checkpoint (`<data_dir>/catalog-*.ckpt`).
  static StorageOwner catalog() { return of(OwnerKind::catalog, StreamRole::declarations, "", 0); }
  /// The same owner with another role (a queue's settlement log beside its message log).
  [[nodiscard]] StorageOwner with_role(StreamRole r) const {
    StorageOwner o = *this;
    o.role = r;
    return o;
  }
  /// True if both name the same owner (the stored fields; `name` is not compared).
  [[nodiscard]] bool same_as(const StorageOwner& other) const noexcept {
    return kind == other.kind && role == other.role && partition == other.partition &&
           name_length == other.name_length && name_hash == other.name_hash;
  }
  /// "queue 'jobs' partition 0 (records)", or, without a name, "queue with a 4-byte name
  /// (hash 0x...) partition 0 (records)".
  [[nodiscard]] std::string describe() const;
};

/// FNV-1a 64 of `name` (stable across builds and platforms: part of the file format).
std::uint64_t owner_name_hash(std::string_view name) noexcept;

void write_owner(std::span<std::byte> out, const StorageOwner& owner) noexcept;
StorageOwner read_owner(std::span<const std::byte> in) noexcept;

/// `Errc::corrupt` unless `claimed` (read from the file at `path`, block at byte
/// `block_offset`) is `expected`: "<path>: offset 32: belongs to ..., claims <claimed>, but
/// was found in the place of <expected>".
Status check_owner(const StorageOwner& claimed, const StorageOwner& expected, std::string_view path,
                   std::size_t block_offset);

}  // namespace switchyard::detail
