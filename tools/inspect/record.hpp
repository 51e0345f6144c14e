// tools/inspect/record.hpp — the one way switchyard-inspect shows a stored record (a message
// of a queue or topic, a queue's settlement, or bytes it cannot decode), as a JSON object and
// as one line of text. `dump`, `tail` and `pending` all print through it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "durable/stored_message.hpp"
#include "storage/segment_format.hpp"

namespace switchyard::inspect {

using Json = nlohmann::ordered_json;

/// How payloads are shown: readable UTF-8 text, hex, or parsed as JSON (text when it is not).
enum class PayloadFormat : std::uint8_t { text, hex, json };

/// A record: where it is, and what it holds.
struct ShownRecord {
  std::optional<std::uint32_t> partition;  ///< topics
  std::uint64_t offset = 0;                ///< the log offset (a queue's seq)
  std::int64_t timestamp_ns = 0;
  std::optional<std::uint32_t> attempts;  ///< pending: deliveries recorded so far
};

/// A record as JSON and as one line of text, built together from the same bytes (the text
/// escapes the raw bytes, so an invalid UTF-8 byte reads `\xNN` once, never `\\xNN`).
struct Shown {
  Json json;
  std::string line;
};

/// A record whose body is `body`: decoded as a stored message or, failing that, a
/// settlement; else shown as bytes.
Shown show_record(const ShownRecord& where, std::span<const std::byte> body, PayloadFormat format);
/// A message already decoded.
Shown show_message(const ShownRecord& where, const detail::StoredMessage& message,
                   PayloadFormat format);

}  // namespace switchyard::inspect
