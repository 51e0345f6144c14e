#include "inspect/text.hpp"

#include <charconv>
#include <ctime>

#include <fmt/format.h>

namespace switchyard::inspect {

namespace {

/// Length of the valid UTF-8 sequence at `p` (of `n` bytes left), or 0 if it is invalid.
std::size_t sequence_length(const unsigned char* p, std::size_t n) noexcept {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (std::size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;  // overlong
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                            // surrogate
  if (cp > 0x10FFFF) return 0;
  return len;
}

std::span<const std::byte> bytes_of(std::string_view text) noexcept {
  return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace

std::string readable(std::span<const std::byte> bytes, bool quote) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    const std::size_t len = sequence_length(p + i, n - i);
    if (len == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
      continue;
    }
    if (len == 1) {
      if (c == '\\') {
        out += "\\\\";
      } else if (quote && c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c == 0x7F) {
        out += fmt::format("\\x{:02x}", c);
      } else {
        out.push_back(static_cast<char>(c));
      }
    } else if (len == 2 && c == 0xC2 && p[i + 1] < 0xA0) {  // C1 controls, U+0080 to U+009F
      out += fmt::format("\\x{:02x}\\x{:02x}", c, p[i + 1]);
    } else {
      out.append(reinterpret_cast<const char*>(p + i), len);
    }
    i += len;
  }
  return out;
}

std::string readable(std::string_view text, bool quote) {
  return readable(bytes_of(text), quote);
}

bool valid_utf8(std::span<const std::byte> bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < bytes.size();) {
    const std::size_t len = sequence_length(p + i, bytes.size() - i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string json_text(std::span<const std::byte> bytes) {
  if (valid_utf8(bytes)) return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  return readable(bytes, false);
}

std::string json_text(std::string_view text) {
  return json_text(bytes_of(text));
}

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (std::byte b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string format_time(std::int64_t ns) {
  if (ns == 0) return "-";
  std::int64_t seconds = ns / 1'000'000'000;
  std::int64_t fraction = ns % 1'000'000'000;
  if (fraction < 0) fraction += 1'000'000'000, --seconds;
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09}Z", buffer, fraction);
}

std::optional<std::int64_t> parse_time(std::string_view text) {
  std::int64_t ns = 0;
  if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ns);
      ec == std::errc() && end == text.data() + text.size()) {
    return ns;
  }
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z
  auto number = [&](std::size_t at, std::size_t digits, int& out) {
    if (text.size() < at + digits) return false;
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + at + digits, out);
    return ec == std::errc() && end == text.data() + at + digits;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !number(0, 4, year) || text[4] != '-' || !number(5, 2, month) ||
      text[7] != '-' || !number(8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
      !number(11, 2, hour) || text[13] != ':' || !number(14, 2, minute) || text[16] != ':' ||
      !number(17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::int64_t fraction = 0;
  if (text[at] == '.') {
    std::size_t digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits) {
      if (digits == 9) return std::nullopt;
      fraction = fraction * 10 + (text[at] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) fraction *= 10;
  }
  if (at + 1 != text.size() || (text[at] != 'Z' && text[at] != 'z')) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t seconds = ::timegm(&tm);
  return static_cast<std::int64_t>(seconds) * 1'000'000'000 + fraction;
}

}  // namespace switchyard::inspect
