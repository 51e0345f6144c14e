// switchyard/storage_options.hpp — how a durable destination's log sits on disk: the size of
// its segment files, when their space is reserved, and how often `Durability::batch` syncs.
//
// Kafka's topic configs, by their names here:
//   segment.bytes   -> `segment_bytes`     preallocate     -> `preallocate`
//   flush.ms        -> `flush_interval`    flush.messages  -> `flush_bytes` (counted in bytes)
//
// One struct, two places: `BrokerOptions::storage` is the default of every durable destination
// of the broker, and `QueueOptions::storage` / `TopicOptions::storage` override it per
// destination. A field left at its zero value takes the value from the level above (the
// destination's from the broker's, the broker's from the defaults documented below). Values are
// checked when the broker is constructed and when a destination is declared: outside the limits
// below is `Error(Errc::invalid_argument)` naming the option. A memory-only destination ignores
// them. docs/storage.md tells the whole sizing story.
#pragma once

#include <chrono>
#include <cstdint>

#include "switchyard/clock.hpp"

namespace switchyard {

/// When the disk space of a segment file is reserved. Either way the space a record is
/// written into is reserved (`posix_fallocate`) before it is written, so a full disk is
/// `Errc::disk_full` for the send, never a SIGBUS and never a lost acknowledged message.
enum class Preallocate : std::uint8_t {
  inherit,  ///< the level above decides (the broker's default is `grow`)
  grow,     ///< reserve a first extent (segment_bytes / 16, 4 KiB to 64 KiB) and double it
            ///< each time the segment fills it, up to `segment_bytes`: a segment costs about
            ///< what it holds (at most twice that, and at least its first extent)
  full,     ///< reserve the whole segment when it is created (Kafka's `preallocate=true`):
            ///< no reservation while appending; every stream costs a segment at once
};

/// Storage sizing and group commit of a durable destination. Zero values inherit (above).
struct StorageOptions {
  /// Size of each segment file (Kafka `segment.bytes`); a record that does not fit in the
  /// active segment rolls to a new one, and retention and acknowledgement delete whole
  /// segments. 0 (inherit), or 104 bytes to 2^40. Default: 64 MiB for a queue's messages and
  /// 1 MiB for its settlements; for a topic partition a quarter of its byte retention, within
  /// 64 KiB to 64 MiB, and room for its largest record. A value set here applies to every log
  /// of the destination (a queue's messages and settlements alike). A send whose record
  /// (payload, key, group, headers and a few dozen bytes of framing) does not fit in one
  /// segment fails with `Errc::payload_too_large`, whatever `max_payload` allows.
  std::uint64_t segment_bytes = 0;
  /// When a segment's space is reserved. Default `grow`.
  Preallocate preallocate = Preallocate::inherit;
  /// `Durability::batch`: a sync (group commit) runs at the latest this long after the oldest
  /// unsynced record was written (Kafka `flush.ms`; real time, not the broker's clock).
  /// 0 (inherit), or above 0 up to 1 hour. Default 5 ms.
  Duration flush_interval{0};
  /// `Durability::batch`: a sync runs as soon as this many bytes of records are unsynced, however
  /// young (Kafka's `flush.messages`, counted in bytes). 0 (inherit), or 1 byte to 2^40.
  /// Default 1 MiB.
  std::uint64_t flush_bytes = 0;

  /// Limits (inclusive) of the fields, for a caller's own validation.
  static constexpr std::uint64_t kMinSegmentBytes = 104;
  static constexpr std::uint64_t kMaxSegmentBytes = std::uint64_t{1} << 40;
  static constexpr Duration kMaxFlushInterval = std::chrono::hours(1);
  static constexpr std::uint64_t kMaxFlushBytes = std::uint64_t{1} << 40;

  friend bool operator==(const StorageOptions&, const StorageOptions&) = default;
};

}  // namespace switchyard
