// switchyard/durability.hpp — how far an accepted message is carried before it counts as kept.
//
// Two words, one for each side of a send:
//  * `Durability` is what a destination is *declared* with: the promise it makes for every
//    message it accepts.
//  * `Persisted` is what one send *reached* when its completion fired: the fact, never more than
//    the promise.
//
// What each level promises, for a message whose send was accepted:
//  * `memory`: accepted once it is in the destination's memory. Nothing survives the process:
//    lost when it exits or crashes.
//  * `none`: accepted once it is written into the destination's memory-mapped segment (the page
//    cache). Survives a process crash or kill -9; an OS crash or a power loss may lose it.
//  * `batch`: accepted once written, as for `none`; its completion (`SendOptions::on_complete`,
//    `Persisted::synced`) fires after the group sync that covers it. The storage flusher syncs
//    as soon as `flush_bytes` (default 1 MiB) are unsynced or the oldest unsynced record is
//    `flush_interval` (default 5 ms, real time) old — `StorageOptions`, storage_options.hpp.
//    After its completion a message survives a power loss; before it, as `none`.
//  * `always`: written and synced before the send returns. Survives an OS crash and a power
//    loss (not the loss of the disk itself).
//
// After a failed sync the destination refuses further sends with `Errc::io_error`; it never
// retries a sync and reports success (the kernel may have dropped the pages it failed to write).
#pragma once

#include <cstdint>
#include <string_view>

namespace switchyard {

/// The level a destination is declared with. See above for what each survives.
enum class Durability : std::uint8_t {
  memory,  ///< no data directory involved: lost when the process ends (the default)
  none,    ///< written into the memory-mapped segment: survives a process crash, not power loss
  batch,   ///< group commit: synced within flush_interval or flush_bytes; completion once synced
  always,  ///< synced before the send returns
};

/// What one accepted send reached when its completion fired.
enum class Persisted : std::uint8_t {
  memory,   ///< held in memory only
  written,  ///< in the mapped file (the page cache): survives a process crash
  synced,   ///< on stable storage: survives power loss
  /// Acknowledged by a cluster the topic lives on (a remote topic, switchyard/transport.hpp:
  /// Kafka's acks=all — on every in-sync replica): survives this process and the loss of a
  /// broker of that cluster, as the cluster's replication promises.
  replicated,
};

/// What a destination of level `d` reports for a send once its completion fires.
constexpr Persisted persisted_by(Durability d) noexcept {
  switch (d) {
    case Durability::memory:
      return Persisted::memory;
    case Durability::none:
      return Persisted::written;
    case Durability::batch:
    case Durability::always:
      return Persisted::synced;
  }
  return Persisted::memory;
}

constexpr std::string_view to_string(Durability d) noexcept {
  switch (d) {
    case Durability::memory:
      return "memory";
    case Durability::none:
      return "none";
    case Durability::batch:
      return "batch";
    case Durability::always:
      return "always";
  }
  return "unknown";
}

constexpr std::string_view to_string(Persisted p) noexcept {
  switch (p) {
    case Persisted::memory:
      return "memory";
    case Persisted::written:
      return "written";
    case Persisted::synced:
      return "synced";
    case Persisted::replicated:
      return "replicated";
  }
  return "unknown";
}

}  // namespace switchyard
