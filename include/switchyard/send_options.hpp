// switchyard/send_options.hpp — what a producer can say about one send, and what it gets back.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>

#include "switchyard/clock.hpp"
#include "switchyard/durability.hpp"
#include "switchyard/error.hpp"
#include "switchyard/headers.hpp"

namespace switchyard {

/// What a send returns: the message's id, and whether the destination had already seen its
/// deduplication id (then the message was acknowledged to the producer but not enqueued again).
struct SendReceipt {
  std::uint64_t id = 0;
  bool duplicate = false;
  /// For a topic: the partition the record went to and its offset there (Kafka's
  /// RecordMetadata). Zero for other destinations.
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  /// How far the message was carried when this receipt was issued (see durability.hpp).
  Persisted persisted = Persisted::memory;
};

/// A message's priority level, 0 to 255, built from any integer: a level outside that range
/// is clamped to its nearest end (as a level above a queue's `max_priority` counts as it) —
/// never an error, never a narrowing conversion. Reads as its `std::uint8_t` level.
class Priority {
 public:
  constexpr Priority() noexcept = default;
  template <std::integral I>
  constexpr Priority(I level) noexcept  // NOLINT: implicit by design (`.priority = 3`)
      : level_(clamp(level)) {}
  constexpr operator std::uint8_t() const noexcept { return level_; }  // NOLINT: a level
  [[nodiscard]] constexpr std::uint8_t level() const noexcept { return level_; }

 private:
  static constexpr std::uint8_t kMax = 255;
  template <std::integral I>
  static constexpr std::uint8_t clamp(I level) noexcept {
    if constexpr (std::is_signed_v<I>) {
      if (level <= 0) return 0;
    }
    return static_cast<std::uintmax_t>(level) > kMax ? kMax : static_cast<std::uint8_t>(level);
  }
  std::uint8_t level_ = 0;
};

/// Per-send instructions. Every field is optional; defaults come from the destination.
/// Views (`key`, `group`, `dedup_id`) need only live for the duration of the call.
struct SendOptions {
  /// Partition key for a topic, routing key for an exchange; carried by the message.
  std::string_view key{};
  /// For a topic: the partition to append to, overriding the key's; out of range fails with
  /// `Errc::out_of_range`. Ignored by queues and exchanges.
  std::optional<std::uint32_t> partition{};
  Headers headers{};
  /// Higher is delivered first (queues with `max_priority` > 0); any integer (`.priority =
  /// i % 3` needs no cast): above the queue's `max_priority` it counts as it, below 0 as 0.
  /// FIFO within a level.
  Priority priority{};
  /// Not delivered before this much time has passed (SQS DelaySeconds); 0: the queue's
  /// default. Up to Duration::max(), which means never (the deadline saturates); negative
  /// fails the send with `Errc::invalid_argument`.
  Duration delay{0};
  /// Expires this long after the send if not delivered; 0: the queue's TTL (if any). Up to
  /// Duration::max(), which means never; negative fails the send (`invalid_argument`).
  Duration ttl{0};
  /// Message group (SQS FIFO MessageGroupId): in order, one in flight per group.
  std::string_view group{};
  /// Deduplication id (SQS FIFO; Kafka's idempotent producer): a repeat within the queue's or
  /// topic's `dedup_window` is acknowledged with the first send's receipt (`duplicate` set)
  /// and not enqueued or appended again.
  std::string_view dedup_id{};
  /// The application's own id for the message (AMQP's `message-id` property), carried as
  /// `Message::message_id()`; up to 65535 bytes (longer fails with `invalid_argument`).
  std::string_view message_id{};
  /// The message's timestamp as its producer means it (AMQP's `timestamp`, Kafka's
  /// CreateTime), returned by `Message::timestamp()`; unset: the send's wall-clock time.
  std::optional<Timestamp> timestamp{};
  /// Called once the send is complete (Kafka's send(...).then): with the receipt, or the error.
  /// Runs on the sending thread, except at a `Durability::batch` destination, where it runs on
  /// the storage flusher's thread once the record is synced (`receipt.persisted == synced`).
  /// Must not throw.
  std::function<void(const Result<SendReceipt>&)> on_complete{};
};

}  // namespace switchyard
