// switchyard/trace_context.hpp — W3C Trace Context (`traceparent`) propagation: parse, format
// and generate the header, and an interceptor that stamps it on every send.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/headers.hpp"
#include "switchyard/interceptor.hpp"

namespace switchyard {

/// The header name, as W3C Trace Context spells it.
inline constexpr std::string_view kTraceparentHeader = "traceparent";

/// One `traceparent` value (https://www.w3.org/TR/trace-context/#traceparent-header):
/// `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<trace-flags: 2 hex>`, lowercase. A value type;
/// every member is thread-safe (no shared state but the per-thread random generator).
struct TraceParent {
  std::array<std::uint8_t, 16> trace_id{};  ///< never all zero in a valid value
  std::array<std::uint8_t, 8> parent_id{};  ///< the span id of the sender; never all zero
  std::uint8_t flags = 0;                   ///< bit 0: sampled

  static constexpr std::uint8_t kSampled = 0x01;

  /// Parses a header value by the spec's rules: version 2 lowercase hex digits, not "ff";
  /// for version 00 exactly 55 characters; a later version may be longer, with a '-' after the
  /// 55th character (its fields beyond are ignored, as the spec asks); trace id and parent id
  /// lowercase hex and not all zero; flags 2 lowercase hex digits. nullopt if invalid.
  [[nodiscard]] static std::optional<TraceParent> parse(std::string_view value) noexcept;
  /// A new trace: random trace id and parent id, `flags` as given (sampled by default).
  [[nodiscard]] static TraceParent generate(std::uint8_t flags = kSampled);

  /// The same trace with a new random parent id: the context a hop passes on as its child.
  [[nodiscard]] TraceParent child() const;
  [[nodiscard]] bool sampled() const noexcept { return (flags & kSampled) != 0; }
  /// The header value, version 00 (always 55 characters).
  [[nodiscard]] std::string to_string() const;
  /// 32 lowercase hex digits.
  [[nodiscard]] std::string trace_id_hex() const;
  /// 16 lowercase hex digits.
  [[nodiscard]] std::string parent_id_hex() const;

  friend bool operator==(const TraceParent&, const TraceParent&) = default;
};

/// The `traceparent` of `headers`, if present and valid.
[[nodiscard]] std::optional<TraceParent> traceparent_of(const Headers& headers) noexcept;

/// Sets `traceparent` on every send: a new trace when the message has none (or an invalid
/// one — the spec's "restart the trace"), otherwise a child of the one it carries (same trace
/// id and flags, a new parent id: the send is a span of its own). Install it first in
/// `BrokerOptions::interceptors` so later interceptors see the header. Stateless, thread-safe.
class TraceContextInterceptor : public Interceptor {
 public:
  void on_send(std::string_view destination, Headers& headers) override;
};

}  // namespace switchyard
