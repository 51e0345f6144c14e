// switchyard/recovery.hpp — what opening the durable destinations of a data directory found
// and repaired: `Broker::recovery_report()`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace switchyard {

/// What recovery found in one durable stream when its destination was opened (at the
/// broker's construction for what the catalog lists, else at `declare_*`): a queue (its
/// message log and its settlement log together), or one partition of a topic. Fixed once the
/// destination is open.
struct StreamRecovery {
  enum class Kind : std::uint8_t { queue, topic };
  Kind kind = Kind::queue;
  std::string destination;             ///< the queue's or topic's name
  std::uint32_t partition = 0;         ///< the topic partition; 0 for a queue
  std::uint64_t segments = 0;          ///< segment files in use after recovery
  std::uint64_t records = 0;           ///< valid records found (a queue: messages and settlements)
  std::uint64_t bytes = 0;             ///< bytes of those records, headers and padding included
  std::uint64_t truncated_bytes = 0;   ///< torn-tail bytes zeroed (and half-created segments)
  std::uint64_t removed_segments = 0;  ///< half-created last segments removed
  std::uint64_t corrupt_regions_skipped = 0;  ///< salvage: damaged regions skipped
  std::uint64_t corrupt_bytes_skipped = 0;    ///< salvage: bytes in those regions
  /// A queue: accepted, unsettled messages put back. A topic partition: records found (the
  /// offsets of records skipped under salvage are absent).
  std::uint64_t restored = 0;
  /// A topic partition: groups with a committed position on it (0 for a queue).
  std::uint64_t committed_groups = 0;
  std::chrono::nanoseconds elapsed{0};  ///< time spent recovering this stream
  /// One line per repair or loss, naming the file and byte offset: a torn tail truncated, a
  /// region skipped under salvage, a half-created segment removed, a settlement generation
  /// cut short and discarded, settlements of messages the log no longer holds, a damaged
  /// offset checkpoint fallen back from (a topic's checkpoint lines are on partition 0).
  std::vector<std::string> events;

  /// True if recovery changed or skipped anything (a clean reopen: false).
  [[nodiscard]] bool repaired() const noexcept {
    return truncated_bytes != 0 || removed_segments != 0 || corrupt_regions_skipped != 0 ||
           !events.empty();
  }
};

/// Every durable destination's recovery, by destination name, then partition.
struct RecoveryReport {
  std::vector<StreamRecovery> streams;

  [[nodiscard]] bool repaired() const noexcept {
    for (const auto& s : streams) {
      if (s.repaired()) return true;
    }
    return false;
  }
};

}  // namespace switchyard
