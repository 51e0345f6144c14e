// src/durable/stored_message.hpp — a message as a durable queue or topic stores it.
//
// The record body of every durable destination (body versions 1 and 2, little-endian):
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
//    version 2 only (a producer-set timestamp or message id), after the payload:
//    +---------------------------------------+
//    |  created (i64, wall ns, 0=none)        |  producer-set timestamp (AMQP timestamp,
//    +-------------------+-------------------+  Kafka CreateTime)
//    |  message id length (u32)               |
//    +---------------------------------------+
//    |  message id                            |  producer-set (AMQP message-id)
//    +---------------------------------------+
//    version 3 (a send with a dedup id): the version-2 trailer (zeros when the message has no
//    origin), then:
//    +---------------------------------------+
//    |  dedup window end (i64, wall ns)       |  SendOptions::dedup_id's window
//    +-------------------+-------------------+
//    |  dedup id length (u32)                 |
//    +---------------------------------------+
//    |  dedup id                              |
//    +---------------------------------------+
//
// A message without either is written as version 1, byte for byte as before version 2 existed,
// so most records (and every file written before) stay version 1 and every build reads them;
// only a send with a dedup id writes version 3; this build reads all three; a version above 3
// is `corrupt` ("message body version N"), so an older build refuses a newer record with a
// typed error, never misreads it.
//
// The one codec between a `Message` and its stored form, for durable queues and topics alike:
//   * to a record: `fields_of(Message)` (or the producer's `MessageFields`, for a message that
//     was never built) -> `append_stored`, which encodes straight into a log's mapping;
//     monotonic deadlines are stored as wall-clock times (a restart changes the monotonic
//     epoch, not the wall clock's);
//   * from a record: `decode_stored_message` -> `to_message`, deadlines moved back onto the
//     monotonic clock; a field a Message cannot hold is `corrupt`.
// The log frames and checksums the bytes, so `decode` only has to be bounds-checked, not
// suspicious of bit flips. Deadlines: 0 is none, `kNeverNs` is never, on either clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/segment_log.hpp"
#include "switchyard/error.hpp"
#include "switchyard/message.hpp"
#include "util/message_fields.hpp"

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
  std::int64_t created_ns = 0;        ///< producer-set timestamp, wall clock; 0 = none
  std::string message_id;             ///< producer-set message id; empty = none
  std::string dedup_id;               ///< the send's dedup id (version 3); empty = none
  std::int64_t dedup_until_ns = 0;    ///< end of the dedup id's window, wall clock

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

namespace stored_message {
/// A body without a producer-set timestamp or message id.
inline constexpr std::uint8_t kBodyVersion = 1;
/// A body with the version-2 trailer (created, message id) after its payload.
inline constexpr std::uint8_t kBodyVersionWithOrigin = 2;
/// A body with the version-2 trailer and then the dedup trailer (window end, id).
inline constexpr std::uint8_t kBodyVersionWithDedup = 3;
/// The dedup trailer's fixed part: window end (i64), dedup id length (u32).
inline constexpr std::size_t kDedupTrailerFixedSize = 12;
inline constexpr std::size_t kFixedSize = 48;
/// The trailer's fixed part: created (i64), message id length (u32).
inline constexpr std::size_t kTrailerFixedSize = 12;
}  // namespace stored_message

/// `message` as fields to encode. Its deadlines are wall-clock already: `sent_ns` is
/// `timestamp_ns`, so storing moves them by nothing.
[[nodiscard]] MessageFields fields_of(const StoredMessage& message) noexcept;
/// `message` as fields to store, viewing it (valid while it lives). An object payload is
/// stored through its `Codec`, encoded into `object_bytes`, which the fields then view.
/// Failure: `wrong_type` (an object with no Codec), `out_of_memory`.
[[nodiscard]] Result<MessageFields> fields_of(const Message& message,
                                              std::string& object_bytes) noexcept;

/// Bytes `encode` will produce for `fields`. The caller keeps key, group and header lengths
/// within the format's bounds (u32 each; header count u16: see `append_stored`).
[[nodiscard]] std::size_t encoded_size(const MessageFields& fields) noexcept;
/// Writes the encoding of `fields` into `out`, which is exactly `encoded_size(fields)` bytes.
void encode_into(const MessageFields& fields, std::span<std::byte> out) noexcept;
/// Appends the encoding of `fields` to `out`.
void encode(const MessageFields& fields, std::vector<std::byte>& out);

/// Stores `fields` as one record of `log`, encoded straight into its mapping, timestamped
/// with the message's wall time; returns the record's offset. Refuses a message with more
/// headers than a record holds (`invalid_argument`, nothing written); otherwise outcomes and
/// `done` as `SegmentLog::append_in_place`. @note threadsafe (the log serialises appends)
Result<std::uint64_t> append_stored(SegmentLog& log, const MessageFields& fields,
                                    Completion done) noexcept;

/// Decodes a record body. Failure: `Errc::corrupt` naming the field that ran out of bounds.
[[nodiscard]] Result<StoredMessage> decode_stored_message(std::span<const std::byte> body);
/// The Message a record holds: its wall-clock times (the send, the deadlines) moved onto the
/// monotonic clock by `mono_minus_wall_ns` (a monotonic reading minus a wall one taken
/// together), so delays and TTLs keep counting from the original send. `corrupt` for a key or
/// group longer than a Message holds (65535 bytes). Throws std::bad_alloc.
[[nodiscard]] Result<Message> to_message(const StoredMessage& stored,
                                         std::int64_t mono_minus_wall_ns);

/// A dedup id found in a stored record (util/dedup_window.hpp): what a restart remembers.
struct StoredDedup {
  std::string id;
  std::uint64_t message_id = 0;  ///< the record's message id: what a duplicate is told
  std::uint64_t offset = 0;      ///< the record's offset (a queue's seq)
  std::int64_t until_ns = 0;     ///< end of the id's window, wall clock
};
/// The dedup ids of `log`'s records from `from` to its end whose window has not ended by
/// `now_wall_ns`, in offset order. Decodes version-3 bodies only (the others carry none).
/// Failure: the log's read errors; `corrupt` for a body that does not decode.
[[nodiscard]] Result<std::vector<StoredDedup>> collect_stored_dedup(const SegmentLog& log,
                                                                    std::uint64_t from,
                                                                    std::int64_t now_wall_ns);

}  // namespace switchyard::detail
