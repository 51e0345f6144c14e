// src/util/message_fields.hpp — a message's fields by reference, before or without a Message.
//
// What a producer has in hand before it builds a `Message` (its arguments, stamped), and what a
// `Message` shows of itself: the one input of the stored-record encoder
// (`durable/stored_message.hpp`). Routing hands it to a destination that stores records without
// keeping a Message (`Destination::accept_fields`), so it lives below both. The views borrow
// their owner's bytes: valid while that lives unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "switchyard/headers.hpp"

namespace switchyard::detail {

struct MessageFields {
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;  ///< wall clock, ns since the Unix epoch
  /// Monotonic instant of the send: the clock `deliver_after_ns` and `expires_at_ns` count on.
  std::int64_t sent_ns = 0;
  std::uint8_t priority = 0;
  std::string_view key;
  std::string_view group;
  std::span<const Headers::value_type> headers;
  std::span<const std::byte> payload;
  std::int64_t deliver_after_ns = 0;  ///< monotonic, as `sent_ns`; 0 = at once
  std::int64_t expires_at_ns = 0;     ///< monotonic, as `sent_ns`; 0 = never
  std::int64_t created_ns = 0;        ///< producer-set timestamp, wall clock; 0 = none
  std::string_view message_id;        ///< producer-set message id; empty = none
  /// The send's deduplication id (`SendOptions::dedup_id`) and the end of its window
  /// (monotonic, as `sent_ns`): a durable destination stores both with the record, so the id
  /// is remembered across a restart exactly as long as the message is (util/dedup_window.hpp).
  std::string_view dedup_id;  ///< empty = none
  std::int64_t dedup_until_ns = 0;
};

}  // namespace switchyard::detail
