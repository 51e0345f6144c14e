// src/durable/offset_store.hpp — a durable topic's committed group offsets: which offset each
// consumer group committed for each partition, kept in `<topic dir>/offsets` as an atomic
// checkpoint file (storage/offset_checkpoint.hpp: the file format, generations, fall-back).
//
// Threads: not thread-safe; the topic serialises every call (TopicState's checkpoint_mutex_).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/offset_checkpoint.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

class OffsetStore {
 public:
  /// Loads (creating `dir` if needed) the offsets of topic `topic`; fails as
  /// `OffsetCheckpoint::open` does (`corrupt` when every generation is damaged or names another
  /// owner, `io_error`).
  static Result<OffsetStore> open(const std::filesystem::path& dir, std::string_view topic);

  /// The offset `group` committed for `partition`, if any.
  [[nodiscard]] std::optional<std::uint64_t> find(std::string_view group,
                                                  std::uint32_t partition) const;
  /// Every group that committed an offset, once each, in name order.
  [[nodiscard]] std::vector<std::string> groups() const;
  /// How many groups committed an offset for each of partitions 0 .. `partitions` - 1.
  [[nodiscard]] std::vector<std::uint64_t> groups_per_partition(std::uint32_t partitions) const;
  /// Damaged generations loading skipped (one line each, naming the file).
  [[nodiscard]] const std::vector<std::string>& damaged() const noexcept {
    return checkpoint_.recovery().damaged;
  }

  /// Stores `offsets` (partition, next offset) of `group` with every other group's; returns once
  /// durable. On failure nothing changed.
  Status commit(const std::string& group,
                std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets);

 private:
  explicit OffsetStore(OffsetCheckpoint checkpoint) : checkpoint_(std::move(checkpoint)) {}
  OffsetCheckpoint checkpoint_;
};

}  // namespace switchyard::detail
