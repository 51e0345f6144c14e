// src/match/headers_match.hpp — RabbitMQ headers-exchange matching, and `HeaderFilter`, the
// one filter of bindings and topic subscriptions (with SNS filter policies).
//
// A headers exchange ignores the routing key and routes on message headers. Each binding has
// arguments (name -> value) and an `x-match` mode; a message matches the binding when
//
//   x-match = all (the default when absent)   every argument is satisfied
//           = any                             at least one argument is satisfied
//           = all-with-x / any-with-x         the same, but arguments named "x-..." take part
//
// as rabbit_exchange_type_headers does it:
//   * An argument is satisfied when the message has a header of that name and, unless the
//     argument is "presence only", the header's value equals the argument's value exactly
//     (bytes, case-sensitive). Presence-only is RabbitMQ's `void`-typed argument; here it is an
//     argument whose value is `std::nullopt`. An empty string is a value like any other: it
//     requires the header to be present and empty.
//   * With all / any, arguments whose name starts with "x-" are skipped; with the -with-x
//     modes only the "x-match" argument itself is skipped.
//   * Skipped arguments count as satisfied for "all" and as not satisfied for "any": a binding
//     with no (remaining) arguments matches every message under all, none under any.
//   * Header values are strings here (switchyard headers are text); RabbitMQ compares typed
//     AMQP values. Names are compared exactly.
//   * If a message carries a header name more than once, the argument is satisfied if any of
//     those headers satisfies it.
//
// Binding-time validation (as RabbitMQ's validate_binding): an `x-match` argument must have one
// of the four values; anything else is `Errc::invalid_argument`.
//
// Pure functions: noexcept matching, no allocation, safe from any thread. Cost is
// O(arguments x headers) string comparisons — both are small in practice.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "match/filter_policy.hpp"
#include "switchyard/error.hpp"
#include "switchyard/headers.hpp"

namespace switchyard::detail {

/// The `x-match` mode of a headers binding.
enum class HeadersMatch : std::uint8_t { all, any, all_with_x, any_with_x };

/// The argument name that selects the mode.
inline constexpr std::string_view kXMatch = "x-match";

/// The `x-match` spelling of a mode ("all", "any", "all-with-x", "any-with-x").
constexpr std::string_view to_string(HeadersMatch mode) noexcept {
  switch (mode) {
    case HeadersMatch::all:
      return "all";
    case HeadersMatch::any:
      return "any";
    case HeadersMatch::all_with_x:
      return "all-with-x";
    case HeadersMatch::any_with_x:
      return "any-with-x";
  }
  return "all";
}

/// Parses an `x-match` value; `invalid_argument` names the value if it is none of the four.
inline Result<HeadersMatch> parse_headers_match(std::string_view x_match) {
  for (auto mode :
       {HeadersMatch::all, HeadersMatch::any, HeadersMatch::all_with_x, HeadersMatch::any_with_x}) {
    if (x_match == to_string(mode)) return mode;
  }
  return Result<HeadersMatch>(Errc::invalid_argument,
                              "headers binding: invalid x-match value \"" + std::string(x_match) +
                                  "\" (expected all, any, all-with-x or any-with-x)");
}

/// One binding argument. `value == std::nullopt` means "the header must be present, with any
/// value" (RabbitMQ's void-typed argument).
struct HeaderArgument {
  std::string name;
  std::optional<std::string> value;

  friend bool operator==(const HeaderArgument&, const HeaderArgument&) = default;
};

/// A validated headers binding: its mode and its arguments (without the x-match argument).
struct HeadersBinding {
  HeadersMatch mode = HeadersMatch::all;
  std::vector<HeaderArgument> arguments;
};

/// Builds a binding from raw binding arguments as a client would pass them: an optional
/// "x-match" argument (absent = all) among the others. Fails with `invalid_argument` if
/// x-match is presence-only or not one of the four modes.
inline Result<HeadersBinding> make_headers_binding(std::vector<HeaderArgument> arguments) {
  HeadersBinding binding;
  for (auto it = arguments.begin(); it != arguments.end();) {
    if (it->name != kXMatch) {
      ++it;
      continue;
    }
    if (!it->value) {
      return Result<HeadersBinding>(Errc::invalid_argument,
                                    "headers binding: x-match has no value");
    }
    auto mode = parse_headers_match(*it->value);
    if (!mode) return Result<HeadersBinding>(mode.failure());
    binding.mode = *mode;
    it = arguments.erase(it);
  }
  binding.arguments = std::move(arguments);
  return binding;
}

/// What `headers_match` accepts as a message's headers: any range of pair-like elements whose
/// `.first` (name) and `.second` (value) convert to std::string_view — a
/// std::vector<std::pair<std::string, std::string>>, a std::map<std::string, std::string>, ...
template <class R>
concept HeaderRange = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> h) {
  { h.first } -> std::convertible_to<std::string_view>;
  { h.second } -> std::convertible_to<std::string_view>;
};

/// True if a message with `headers` matches a binding of `mode` with `arguments`.
template <HeaderRange Headers>
bool headers_match(HeadersMatch mode, std::span<const HeaderArgument> arguments,
                   const Headers& headers) noexcept {
  const bool with_x = mode == HeadersMatch::all_with_x || mode == HeadersMatch::any_with_x;
  const bool want_all = mode == HeadersMatch::all || mode == HeadersMatch::all_with_x;
  for (const HeaderArgument& argument : arguments) {
    const std::string_view name = argument.name;
    if (name == kXMatch) continue;
    if (!with_x && name.starts_with("x-")) continue;
    bool satisfied = false;
    for (const auto& header : headers) {
      if (std::string_view(header.first) != name) continue;
      if (!argument.value || std::string_view(header.second) == *argument.value) {
        satisfied = true;
        break;
      }
    }
    if (want_all && !satisfied) return false;
    if (!want_all && satisfied) return true;
  }
  return want_all;
}

/// True if a message with `headers` matches `binding`.
template <HeaderRange Headers>
bool headers_match(const HeadersBinding& binding, const Headers& headers) noexcept {
  return headers_match(binding.mode, binding.arguments, headers);
}

/// The argument whose value is an SNS filter policy (JSON; match/filter_policy.hpp).
inline constexpr std::string_view kXFilterPolicy = "x-filter-policy";

/// A header filter: what a binding's arguments on a direct, topic or fanout exchange and a topic's
/// queue subscription (`Broker::subscribe_queue`) both mean by one. Two forms, which may be
/// combined (a message must pass both):
///   * name=value pairs with a headers exchange's rules (an optional `x-match`; `all` by
///     default: every other name=value pair must be among the message's headers);
///   * `x-filter-policy`: an SNS subscription filter policy with its operators (prefix,
///     anything-but, numeric ranges, exists, ...; see match/filter_policy.hpp).
/// Empty: matches every message. The one home of that rule, so a filter means the same
/// wherever it is given.
class HeaderFilter {
 public:
  HeaderFilter() = default;
  /// `invalid_argument` (naming the value) for an x-match that is none of the four modes, or
  /// for a malformed filter policy (naming what and where).
  static Result<HeaderFilter> parse(const Headers& arguments) {
    HeaderFilter filter;
    if (arguments.empty()) return filter;
    std::vector<HeaderArgument> raw;
    raw.reserve(arguments.size());
    for (const auto& [name, value] : arguments) {
      if (name == kXFilterPolicy) {
        auto policy = FilterPolicy::parse(value);
        if (!policy) return Result<HeaderFilter>(policy.failure());
        filter.policy_ = std::move(*policy);
        continue;
      }
      raw.push_back({name, value});
    }
    if (raw.empty()) return filter;
    auto binding = make_headers_binding(std::move(raw));
    if (!binding) return Result<HeaderFilter>(binding.failure());
    filter.binding_ = std::move(*binding);
    filter.active_ = true;
    return filter;
  }

  [[nodiscard]] bool matches(const Headers& headers) const noexcept {
    return (!active_ || headers_match(binding_, headers)) &&
           (!policy_ || policy_->matches(headers));
  }

 private:
  HeadersBinding binding_;
  bool active_ = false;
  std::optional<FilterPolicy> policy_;
};

}  // namespace switchyard::detail
