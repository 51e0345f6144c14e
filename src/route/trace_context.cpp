// W3C Trace Context: traceparent parsing, formatting and generation (switchyard/trace_context.hpp).
#include "switchyard/trace_context.hpp"

#include <algorithm>
#include <random>

namespace switchyard {

namespace {

constexpr std::size_t kLength = 55;  // "00-" + 32 + "-" + 16 + "-" + 2

/// A lowercase hex digit's value, or -1 (uppercase is invalid in traceparent).
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

void append_hex(std::string& out, const std::uint8_t* bytes, std::size_t n) {
  constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xF]);
  }
}

/// Fills `bytes` with random bits, never all zero. One generator per thread.
template <std::size_t N>
void randomize(std::array<std::uint8_t, N>& bytes) {
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t word = generator();
      for (std::size_t j = i; j < std::min(N, i + 8); ++j, word >>= 8) {
        bytes[j] = static_cast<std::uint8_t>(word);
      }
    }
  } while (all_zero(bytes));
}

}  // namespace

std::optional<TraceParent> TraceParent::parse(std::string_view value) noexcept {
  if (value.size() < kLength) return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!parse_hex(value.substr(0, 2), version) || version[0] == 0xFF) return std::nullopt;
  if (version[0] == 0 ? value.size() != kLength : value.size() > kLength && value[kLength] != '-') {
    return std::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceParent parsed;
  std::array<std::uint8_t, 1> flags{};
  if (!parse_hex(value.substr(3, 32), parsed.trace_id) ||
      !parse_hex(value.substr(36, 16), parsed.parent_id) ||
      !parse_hex(value.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(parsed.trace_id) || all_zero(parsed.parent_id)) return std::nullopt;
  parsed.flags = flags[0];
  return parsed;
}

TraceParent TraceParent::generate(std::uint8_t flags) {
  TraceParent made;
  randomize(made.trace_id);
  randomize(made.parent_id);
  made.flags = flags;
  return made;
}

TraceParent TraceParent::child() const {
  TraceParent next = *this;
  do {
    randomize(next.parent_id);
  } while (next.parent_id == parent_id);
  return next;
}

std::string TraceParent::to_string() const {
  std::string out;
  out.reserve(kLength);
  out += "00-";
  append_hex(out, trace_id.data(), trace_id.size());
  out.push_back('-');
  append_hex(out, parent_id.data(), parent_id.size());
  out.push_back('-');
  append_hex(out, &flags, 1);
  return out;
}

std::string TraceParent::trace_id_hex() const {
  std::string out;
  append_hex(out, trace_id.data(), trace_id.size());
  return out;
}

std::string TraceParent::parent_id_hex() const {
  std::string out;
  append_hex(out, parent_id.data(), parent_id.size());
  return out;
}

std::optional<TraceParent> traceparent_of(const Headers& headers) noexcept {
  const auto value = headers.find(kTraceparentHeader);
  if (!value) return std::nullopt;
  return TraceParent::parse(*value);
}

void TraceContextInterceptor::on_send(std::string_view destination, Headers& headers) {
  (void)destination;
  const auto parent = traceparent_of(headers);
  const TraceParent next = parent ? parent->child() : TraceParent::generate();
  headers = headers.with(kTraceparentHeader, next.to_string());
}

}  // namespace switchyard
