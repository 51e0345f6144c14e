// switchyard/record.hpp — one record read from a topic partition, and the notice of records a
// group member missed because retention removed them first.
#pragma once

#include <cstdint>
#include <string_view>

#include "switchyard/clock.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/message.hpp"

namespace switchyard {

/// A record of a topic: the message as sent (id, key, headers, payload, timestamp — shared,
/// never copied) plus where the log put it. Offsets start at 0 in every partition and rise by
/// one per record; they are never reused.
struct Record {
  Message message;
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;

  [[nodiscard]] MessageId id() const noexcept { return message.id(); }
  [[nodiscard]] std::string_view key() const noexcept { return message.key(); }
  [[nodiscard]] const Headers& headers() const noexcept { return message.headers(); }
  [[nodiscard]] Payload payload() const noexcept { return message.payload(); }
  /// Kafka's CreateTime: the producer's `SendOptions::timestamp`, else the send's wall-clock
  /// time (`Message::timestamp()`).
  [[nodiscard]] Timestamp timestamp() const noexcept { return message.timestamp(); }
  /// The producer-set message id (`Message::message_id()`); empty for none.
  [[nodiscard]] std::string_view message_id() const noexcept { return message.message_id(); }
};

/// Records `[from, from + count)` of `partition` left the log (retention by count, bytes or
/// age) before this group member read them. The member continues at `from + count`, the oldest
/// retained record. Also counted in `GroupStats::missed` and `GroupPartitionStats::missed`.
struct Missed {
  std::uint32_t partition = 0;
  std::uint64_t from = 0;
  std::uint64_t count = 0;
  friend bool operator==(const Missed&, const Missed&) = default;
};

}  // namespace switchyard
