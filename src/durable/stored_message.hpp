// src/durable/stored_message.hpp — a message as a durable queue or topic stores it.
//
// The record body of every durable destination (format version 1, little-endian):
//
//    0                   4                   8
//    +---------+---------+-------------------+
//    |  id (u64)                              |  0
//    +---------------------------------------+
//    |  timestamp (i64, wall ns)              |  8
//    +---------------------------------------+
//    |  deliver after (i64, wall ns, 0=none)  | 16
//    +---------------------------------------+
//    |  expires at (i64, wall ns, 0=none)     | 24
//    +----+----+---------+-------------------+
//    |prio|vers| hdr cnt |  key length       | 32   vers = kBodyVersion
//    +----+----+---------+-------------------+
//    |  group length     |  payload length   | 40
//    +-------------------+-------------------+
//    |  key, group                            | 48
//    |  headers: per header u32 name length, u32 value length, name, value
//    |  payload
//    +---------------------------------------+
//
// The lead's in-memory `Message` converts to and from this type; the log frames and checksums
// the bytes, so `decode` only has to be bounds-checked, not suspicious of bit flips.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/error.hpp"

namespace switchyard::detail {

struct StoredMessage {
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;  ///< wall clock, ns since the Unix epoch
  std::uint8_t priority = 0;
  std::string key;
  std::string group;  ///< message group (SQS FIFO); empty for none
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::byte> payload;
  std::int64_t deliver_after_ns = 0;  ///< wall clock; 0 = deliver at once
  std::int64_t expires_at_ns = 0;     ///< wall clock; 0 = never expires

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

namespace stored_message {
inline constexpr std::uint8_t kBodyVersion = 1;
inline constexpr std::size_t kFixedSize = 48;
}  // namespace stored_message

/// The fields of a record body by reference, for encoding without owning copies (a durable
/// topic encodes a `Message` straight into its segment mapping through this).
struct StoredFields {
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;
  std::uint8_t priority = 0;
  std::string_view key;
  std::string_view group;
  std::span<const std::pair<std::string, std::string>> headers;
  std::span<const std::byte> payload;
  std::int64_t deliver_after_ns = 0;
  std::int64_t expires_at_ns = 0;
};

/// The fields of `message`, viewing its strings and payload (valid while it lives unchanged).
[[nodiscard]] StoredFields fields_of(const StoredMessage& message) noexcept;

/// Bytes `encode` will produce for `fields`. The caller keeps key, group and header lengths
/// within the format's bounds (u32 each; header count u16).
[[nodiscard]] std::size_t encoded_size(const StoredFields& fields) noexcept;
/// Writes the encoding of `fields` into `out`, which is exactly `encoded_size(fields)` bytes.
void encode_into(const StoredFields& fields, std::span<std::byte> out) noexcept;

/// Bytes `encode` will produce for `message`.
[[nodiscard]] std::size_t encoded_size(const StoredMessage& message) noexcept;
/// Appends the encoding of `message` to `out`.
void encode(const StoredMessage& message, std::vector<std::byte>& out);
/// Decodes a record body. Failure: `Errc::corrupt` naming the field that ran out of bounds.
[[nodiscard]] Result<StoredMessage> decode_stored_message(std::span<const std::byte> body);

}  // namespace switchyard::detail
