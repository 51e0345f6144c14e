// src/storage/checkpoint_file.hpp — a small file of records replaced atomically as a whole,
// keeping the previous copy: what a topic's committed offsets (durable/offset_store.hpp) and
// the broker's catalog (broker/catalog_records.hpp) are stored in. This layer frames, checks
// and replaces the bytes; what a record holds is its owner's codec.
//
// Files: <dir>/<name>-<generation, 20 digits>.ckpt; a commit writes generation g+1 as
// `.tmp`, fsyncs it, renames it into place, fsyncs the directory, then deletes generations
// below g. Loading takes the newest file that verifies (framing, CRC and the owner's decoder);
// if the newest is damaged (torn by a power loss, a bad disk block) it falls back to the one
// before and says so.
//
// Checkpoint file (format version 2, little-endian)
//
//    0                   4                   8
//    +---------------------------------------+
//    |  magic "SWYDCKPT" (8 bytes)            |  0
//    +---------+---------+-------------------+
//    | version | 0       |  record count     |  8
//    +---------+---------+-------------------+
//    |  generation (u64)                      | 16
//    +-------------------+-------------------+
//    |  body length      |  0                | 24
//    +-------------------+-------------------+
//    |  owner block (24 bytes)                | 32   whose checkpoint: storage_owner.hpp
//    +---------------------------------------+
//    |  records (body length bytes)           | 56   the owner's encoding
//    +-------------------+-------------------+
//    |  CRC-32C of every byte before it       |  56 + body length
//    +-------------------+
//
//  Version 1 had no owner block (records at 32); it is still read, without the identity
//  check. A version 2 file whose owner is not the checkpoint's is `Errc::corrupt` at load,
//  never a reason to fall back to an older generation: a file from elsewhere is not damage.
//
// Threads: not thread-safe; its owner serialises commits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/file.hpp"
#include "storage/storage_owner.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

namespace checkpoint {
inline constexpr char kMagic[8] = {'S', 'W', 'Y', 'D', 'C', 'K', 'P', 'T'};
inline constexpr std::uint16_t kVersion = 2;
inline constexpr std::uint16_t kOldestVersion = 1;  ///< no owner block
inline constexpr std::size_t kVersionOffset = 8;
inline constexpr std::size_t kRecordCountOffset = 12;
inline constexpr std::size_t kGenerationOffset = 16;
inline constexpr std::size_t kBodyLengthOffset = 24;
inline constexpr std::size_t kOwnerOffset = 32;
inline constexpr std::size_t kHeaderSize = kOwnerOffset + owner_block::kSize;
inline constexpr std::size_t kVersion1HeaderSize = 32;
inline constexpr std::size_t kTrailerSize = 4;
}  // namespace checkpoint

/// A checkpoint's records in their owner's encoding, as a commit writes them.
struct CheckpointRecords {
  std::uint32_t count = 0;
  std::vector<std::byte> bytes;
};

/// One verified checkpoint file: its header, and a view of its records (into the bytes given
/// to `decode_checkpoint_file`, valid as long as they are).
struct CheckpointImage {
  std::uint16_t version = checkpoint::kVersion;
  std::uint64_t generation = 0;
  StorageOwner owner;  ///< version 2 on
  std::uint32_t record_count = 0;
  std::span<const std::byte> records;
  std::size_t records_at = 0;  ///< file offset of `records`, for error messages
  std::string_view path;       ///< the name `decode_checkpoint_file` was given

  /// `Errc::corrupt`: "<path>: offset <file offset>: <what>" — for record codecs.
  [[nodiscard]] Failure corrupt(std::size_t file_offset, std::string_view what) const;
};

/// The one entry layout both owners' records use (offsets, the catalog), little-endian:
///
///    0                   4                   8                  12                  16
///    +-------------------+-------------------+-------------------+-------------------+
///    |  name length      |  text length      |  number           |  0 (reserved)     |
///    +-------------------+-------------------+-------------------+-------------------+
///    |  value (u64)                          | 16, then the name bytes and the text bytes at 24
///    +---------------------------------------+
///
/// What name, text, number and value mean is the owner's (offsets: group, metadata, partition,
/// offset; the catalog: key, declaration, 0, 0).
struct CheckpointEntry {
  std::string_view name;
  std::string_view text;
  std::uint32_t number = 0;
  std::uint64_t value = 0;
};
namespace checkpoint_entry {
inline constexpr std::size_t kFixedSize = 24;
}  // namespace checkpoint_entry

/// Builds the records of a checkpoint, one entry at a time.
class CheckpointEntryWriter {
 public:
  void add(const CheckpointEntry& entry);
  [[nodiscard]] CheckpointRecords done() && { return std::move(records_); }

 private:
  CheckpointRecords records_;
};

/// The entries of a verified checkpoint, as views into its bytes (a fuzz target: never reads out
/// of bounds, never throws). Failure: `Errc::corrupt` naming the file and the byte offset.
Result<std::vector<CheckpointEntry>> decode_entries(const CheckpointImage& image);

/// The bytes of a checkpoint file (the current version).
std::vector<std::byte> encode_checkpoint_file(const CheckpointRecords& records,
                                              std::uint64_t generation,
                                              const StorageOwner& owner = {});
/// Checks the framing of a checkpoint file: magic, version, lengths, CRC (a fuzz target: never
/// reads out of bounds, never throws). Failure: `Errc::corrupt` naming `path` and the offset.
/// The records are not looked at: that is the owner's decoder.
Result<CheckpointImage> decode_checkpoint_file(std::span<const std::byte> file,
                                               std::string_view path);

/// What loading found.
struct CheckpointRecovery {
  std::uint64_t generation = 0;      ///< generation loaded (0: none existed)
  bool fell_back = false;            ///< a newer file was damaged and skipped
  std::vector<std::string> damaged;  ///< one line per damaged file: path and what failed
};

class CheckpointFile {
 public:
  /// The owner's record decoder: called with each candidate file, newest first, until one is
  /// accepted; the last call before `open` succeeds is for the generation it loaded. A
  /// failure (`Errc::corrupt`, from `CheckpointImage::corrupt`) marks that file damaged.
  using Decoder = std::function<Status(const CheckpointImage&)>;

  /// Loads the newest valid checkpoint named `name` in `dir` (creating `dir`), giving its
  /// records to `decode`. No file yet: `decode` is not called. Every file damaged:
  /// `Errc::corrupt` listing them (`what` names the content: "no valid <what> checkpoint"),
  /// never a silent reset. A file naming another owner than `owner`: `Errc::corrupt` at once.
  static Result<CheckpointFile> open(const std::filesystem::path& dir, std::string name,
                                     FaultInjector* faults, StorageOwner owner,
                                     std::string_view what, const Decoder& decode);

  [[nodiscard]] const CheckpointRecovery& recovery() const noexcept { return recovery_; }
  [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

  /// Replaces the stored records with `records`, atomically and durably (returns after the
  /// directory fsync). On failure the previous checkpoint stays in force.
  Status commit(const CheckpointRecords& records);

 private:
  CheckpointFile(std::filesystem::path dir, std::string name, FaultInjector* faults,
                 StorageOwner owner)
      : dir_(std::move(dir)), name_(std::move(name)), faults_(faults), owner_(std::move(owner)) {}
  [[nodiscard]] std::filesystem::path file_for(std::uint64_t generation) const;
  /// The generations named `name_` in `dir_`, newest first.
  [[nodiscard]] Result<std::vector<std::uint64_t>> generations() const;
  /// The checked image of generation `gen` (framing, generation, `decode`), or why not.
  Result<CheckpointImage> load(std::uint64_t gen, std::vector<std::byte>& bytes,
                               const Decoder& decode) const;
  /// Best effort: removes every generation but `gen` and the one before it.
  void remove_older_than_previous(std::uint64_t gen) const;

  std::filesystem::path dir_;
  std::string name_;
  FaultInjector* faults_;
  StorageOwner owner_;
  std::uint64_t generation_ = 0;
  CheckpointRecovery recovery_;
};

}  // namespace switchyard::detail
