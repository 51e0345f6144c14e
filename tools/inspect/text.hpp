// tools/inspect/text.hpp — how switchyard-inspect shows bytes and times to a person: UTF-8
// text as it is (only control bytes and invalid UTF-8 escaped), hex, RFC 3339 UTC times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace switchyard::inspect {

/// `bytes` as readable text: valid UTF-8 as it is; control bytes (C0, DEL, and C1 code points)
/// as `\n`, `\r`, `\t` or `\xNN`, every byte of an invalid UTF-8 sequence as `\xNN`, and `\`
/// as `\\`. With `quote`, `"` is written `\"` too (for text between quotes).
std::string readable(std::span<const std::byte> bytes, bool quote = true);
std::string readable(std::string_view text, bool quote = true);

/// True if `bytes` are valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool valid_utf8(std::span<const std::byte> bytes) noexcept;
/// `bytes` for a JSON string: as they are when valid UTF-8 (JSON escapes what it must), else
/// `readable(bytes, false)` (the `\xNN` escapes then read as text).
std::string json_text(std::span<const std::byte> bytes);
std::string json_text(std::string_view text);

/// Lower-case hex, two digits a byte, no separators.
std::string hex(std::span<const std::byte> bytes);

/// Nanoseconds since the Unix epoch as `2023-11-14T22:13:20.000000000Z`; "-" for 0.
std::string format_time(std::int64_t ns);
/// The inverse: RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, 1 to 9 fraction digits)
/// or an integer of nanoseconds since the epoch. nullopt when it is neither.
std::optional<std::int64_t> parse_time(std::string_view text);

}  // namespace switchyard::inspect
