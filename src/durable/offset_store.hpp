// src/durable/offset_store.hpp — a durable topic's consumer-group committed offsets, kept in
// an atomic checkpoint file (storage/checkpoint_file.hpp: framing, CRC, generations, fall
// back to the previous copy). This file owns the records.
//
// Record: one CheckpointEntry (its layout: storage/checkpoint_file.hpp) per (group, partition),
// in key order: name = the group, text = the metadata, number = the partition, value = the
// committed offset (the next offset to read).
//
// Threads: not thread-safe; the topic that owns it serialises commits (TopicState's
// checkpoint_mutex_).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/checkpoint_file.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

struct CommittedOffset {
  std::uint64_t offset = 0;
  std::string metadata;  ///< free text a group commits along with the offset (Kafka-style)
  friend bool operator==(const CommittedOffset&, const CommittedOffset&) = default;
};

/// (group, partition) -> committed offset.
using OffsetMap = std::map<std::pair<std::string, std::uint32_t>, CommittedOffset>;

/// The records of `offsets`.
CheckpointRecords encode_offsets(const OffsetMap& offsets);
/// Parses the records of a verified checkpoint (a fuzz target: never reads out of bounds,
/// never throws). Failure: `Errc::corrupt` naming the file and the byte offset.
Result<OffsetMap> decode_offsets(const CheckpointImage& image);

struct DecodedOffsets {
  std::uint16_t version = checkpoint::kVersion;
  std::uint64_t generation = 0;
  StorageOwner owner;  ///< version 2 on
  OffsetMap offsets;
};
/// A whole offsets checkpoint file: framing, then records (the readers of bytes: the fuzzer,
/// switchyard-inspect, tests).
std::vector<std::byte> encode_offset_checkpoint(const OffsetMap& offsets, std::uint64_t generation,
                                                const StorageOwner& owner = {});
Result<DecodedOffsets> decode_offset_checkpoint(std::span<const std::byte> file,
                                                std::string_view path);

class OffsetStore {
 public:
  /// Loads the newest valid checkpoint named `name` in `dir` (creating `dir`). No file yet:
  /// empty offsets. Every file damaged: `Errc::corrupt` listing them (offsets are never reset
  /// silently). A file naming another owner than `owner`: `Errc::corrupt` at once.
  static Result<OffsetStore> open(const std::filesystem::path& dir, std::string name = "offsets",
                                  FaultInjector* faults = nullptr, StorageOwner owner = {});
  /// The offsets of topic `topic` in `dir` (`<dir>/offsets`, owned by the topic).
  static Result<OffsetStore> open_topic(const std::filesystem::path& dir, std::string_view topic);

  [[nodiscard]] const OffsetMap& offsets() const noexcept { return offsets_; }
  [[nodiscard]] const CheckpointRecovery& recovery() const noexcept { return file_.recovery(); }
  [[nodiscard]] std::uint64_t generation() const noexcept { return file_.generation(); }

  /// The offset `group` committed for `partition`, if any.
  [[nodiscard]] std::optional<std::uint64_t> find(std::string_view group,
                                                  std::uint32_t partition) const;
  /// Every group that committed an offset, once each, in name order.
  [[nodiscard]] std::vector<std::string> groups() const;
  /// How many groups committed an offset for each of partitions 0 .. `partitions` - 1.
  [[nodiscard]] std::vector<std::uint64_t> groups_per_partition(std::uint32_t partitions) const;
  /// Damaged generations loading skipped (one line each, naming the file).
  [[nodiscard]] const std::vector<std::string>& damaged() const noexcept {
    return file_.recovery().damaged;
  }

  /// Replaces the stored offsets with `offsets`, atomically and durably (returns after the
  /// directory fsync). On failure the previous offsets stay in force.
  Status commit(const OffsetMap& offsets);
  /// Stores `offsets` (partition, next offset) of `group` with every other group's; returns once
  /// durable. On failure nothing changed.
  Status commit(const std::string& group,
                std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets);

 private:
  OffsetStore(CheckpointFile file, OffsetMap offsets)
      : file_(std::move(file)), offsets_(std::move(offsets)) {}

  CheckpointFile file_;
  OffsetMap offsets_;
};

}  // namespace switchyard::detail
