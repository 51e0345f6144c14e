// src/storage/offset_checkpoint.hpp — consumer-group committed offsets of one topic,
// persisted as a small checkpoint file written atomically, keeping the previous one.
//
// Files: <dir>/<name>-<generation, 20 digits>.ckpt; a commit writes generation g+1 as
// `.tmp`, fsyncs it, renames it into place, fsyncs the directory, then deletes generations
// below g. Loading takes the newest file that verifies; if the newest is damaged (torn by a
// power loss, a bad disk block) it falls back to the one before and says so.
//
// Checkpoint file (format version 2, little-endian)
//
//    0                   4                   8
//    +---------------------------------------+
//    |  magic "SWYDCKPT" (8 bytes)            |  0
//    +---------+---------+-------------------+
//    | version | 0       |  entry count      |  8
//    +---------+---------+-------------------+
//    |  generation (u64)                      | 16
//    +-------------------+-------------------+
//    |  body length      |  0                | 24
//    +-------------------+-------------------+
//    |  owner block (24 bytes)                | 32   whose checkpoint: storage_owner.hpp
//    +---------------------------------------+
//    |  entries (body length bytes)           | 56
//    +-------------------+-------------------+
//    |  CRC-32C of every byte before it       |  56 + body length
//    +-------------------+
//
//  entry: u32 group length | u32 metadata length | u32 partition | u32 0 | u64 offset |
//         group bytes | metadata bytes
//
//  Version 1 had no owner block (entries at 32); it is still read, without the identity
//  check. A version 2 file whose owner is not the checkpoint's is `Errc::corrupt` at load,
//  never a reason to fall back to an older generation: a file from elsewhere is not damage.
//
// Threads: not thread-safe; the topic that owns it serialises commits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "storage/file.hpp"
#include "storage/storage_owner.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

struct CommittedOffset {
  std::uint64_t offset = 0;
  std::string metadata;  ///< free text a group commits along with the offset (Kafka-style)
  friend bool operator==(const CommittedOffset&, const CommittedOffset&) = default;
};

/// (group, partition) -> committed offset.
using OffsetMap = std::map<std::pair<std::string, std::uint32_t>, CommittedOffset>;

namespace checkpoint {
inline constexpr char kMagic[8] = {'S', 'W', 'Y', 'D', 'C', 'K', 'P', 'T'};
inline constexpr std::uint16_t kVersion = 2;
inline constexpr std::uint16_t kOldestVersion = 1;  ///< no owner block
inline constexpr std::size_t kOwnerOffset = 32;
inline constexpr std::size_t kHeaderSize = kOwnerOffset + owner_block::kSize;
inline constexpr std::size_t kVersion1HeaderSize = 32;
inline constexpr std::size_t kEntryFixedSize = 24;
inline constexpr std::size_t kTrailerSize = 4;
}  // namespace checkpoint

struct DecodedCheckpoint {
  std::uint16_t version = checkpoint::kVersion;
  std::uint64_t generation = 0;
  StorageOwner owner;  ///< version 2 on
  OffsetMap offsets;
};

/// The bytes of a checkpoint file (the current version).
std::vector<std::byte> encode_checkpoint(const OffsetMap& offsets, std::uint64_t generation,
                                         const StorageOwner& owner = {});
/// Parses and verifies a checkpoint file (a fuzz target: never reads out of bounds, never
/// throws). Failure: `Errc::corrupt` naming `path` and the byte offset.
Result<DecodedCheckpoint> decode_checkpoint(std::span<const std::byte> file, std::string_view path);

/// What loading found.
struct CheckpointRecovery {
  std::uint64_t generation = 0;      ///< generation loaded (0: none existed)
  bool fell_back = false;            ///< a newer file was damaged and skipped
  std::vector<std::string> damaged;  ///< one line per damaged file: path and what failed
};

class OffsetCheckpoint {
 public:
  /// Loads the newest valid checkpoint named `name` in `dir` (creating `dir`). No file yet:
  /// empty offsets. Every file damaged: `Errc::corrupt` listing them (offsets are never reset
  /// silently). A file naming another owner than `owner`: `Errc::corrupt` at once.
  static Result<OffsetCheckpoint> open(const std::filesystem::path& dir,
                                       std::string name = "offsets",
                                       FaultInjector* faults = nullptr, StorageOwner owner = {});

  [[nodiscard]] const OffsetMap& offsets() const noexcept { return offsets_; }
  [[nodiscard]] const CheckpointRecovery& recovery() const noexcept { return recovery_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

  /// Replaces the stored offsets with `offsets`, atomically and durably (returns after the
  /// directory fsync). On failure the previous checkpoint stays in force.
  Status commit(const OffsetMap& offsets);

 private:
  OffsetCheckpoint(std::filesystem::path dir, std::string name, FaultInjector* faults,
                   StorageOwner owner)
      : dir_(std::move(dir)), name_(std::move(name)), faults_(faults), owner_(std::move(owner)) {}
  [[nodiscard]] std::filesystem::path file_for(std::uint64_t generation) const;

  std::filesystem::path dir_;
  std::string name_;
  FaultInjector* faults_;
  StorageOwner owner_;
  OffsetMap offsets_;
  std::uint64_t generation_ = 0;
  CheckpointRecovery recovery_;
};

}  // namespace switchyard::detail
