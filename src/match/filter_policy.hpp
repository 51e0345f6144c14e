// src/match/filter_policy.hpp — SNS subscription filter policies on message headers.
//
// A policy is the JSON object SNS takes as a subscription's FilterPolicy (attribute-based
// scope, MessageAttributes): each key names a header; its value is an array of conditions.
// A message matches when EVERY key matches (AND across keys), and a key matches when ANY of
// its conditions does (OR across the values of one key). Conditions, as AWS documents them:
//   "text"                          exact string equality
//   12.5                            numeric equality (the header parsed as a number)
//   {"prefix": "abc"}               the header starts with "abc"
//   {"suffix": "xyz"}               the header ends with "xyz"
//   {"equals-ignore-case": "Abc"}   ASCII case-insensitive equality
//   {"anything-but": v}             the header is present and does not match v: a string, a
//                                   number, an array of strings or numbers, or {"prefix": ..}
//   {"numeric": ["=", 3]}           numeric comparison; one or two of "=", "<", "<=", ">", ">="
//   {"numeric": [">", 0, "<=", 5]}  (two: a range, a lower bound then an upper bound)
//   {"exists": true}                the header is present (any value)
//   {"exists": false}               the header is absent
// Only `exists: false` matches a message without the header. Numeric conditions match a
// header whose whole value parses as a decimal number (SNS's Number attributes; switchyard
// headers are text, so the number is read from the text); any other value does not match.
// A string condition compares text only: "5" matches the header "5", never "5.0".
//
// Bad policies are refused at parse time with `Errc::invalid_argument` naming what and where
// (not an object, an empty condition list, an unknown operator, a range upside down, ...).
//
// Pure functions: matching is noexcept and allocates nothing; safe from any thread.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/error.hpp"

namespace switchyard::detail {

/// A parsed SNS filter policy (see the file comment).
class FilterPolicy {
 public:
  /// Parses a policy's JSON text. `invalid_argument` for malformed JSON or a policy SNS would
  /// refuse.
  static Result<FilterPolicy> parse(std::string_view json);

  /// True if a message with these headers matches. `Headers` is any range of pairs of
  /// string-like name and value (switchyard::Headers, a vector of pairs, a map).
  template <class Headers>
  [[nodiscard]] bool matches(const Headers& headers) const noexcept {
    for (const Key& key : keys_) {
      std::optional<std::string_view> value;
      for (const auto& header : headers) {
        if (std::string_view(header.first) == key.name) {
          value = std::string_view(header.second);
          break;
        }
      }
      bool any = false;
      for (const Condition& c : key.conditions) {
        if (satisfies(c, value)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  }

  /// The header names the policy looks at, in the policy's order.
  [[nodiscard]] std::vector<std::string_view> names() const {
    std::vector<std::string_view> out;
    for (const Key& key : keys_) out.push_back(key.name);
    return out;
  }

 private:
  enum class Kind : std::uint8_t {
    exact,
    number,
    prefix,
    suffix,
    ignore_case,
    numeric_range,
    exists,
    absent,
    anything_but
  };
  struct Bound {
    bool set = false;
    bool inclusive = false;
    double value = 0;
  };
  struct Condition {
    Kind kind = Kind::exact;
    std::string text;                 // exact, prefix, suffix, ignore_case
    double number = 0;                // number
    Bound low, high;                  // numeric_range
    std::vector<Condition> excluded;  // anything_but: matches none of these
  };
  struct Key {
    std::string name;
    std::vector<Condition> conditions;
  };

  static std::optional<double> as_number(std::string_view text) noexcept {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double v = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end || text.empty() || !std::isfinite(v)) return std::nullopt;
    return v;
  }
  static bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
      if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
  }
  static bool satisfies(const Condition& c, std::optional<std::string_view> value) noexcept {
    if (c.kind == Kind::absent) return !value;
    if (!value) return false;
    switch (c.kind) {
      case Kind::exact:
        return *value == c.text;
      case Kind::number: {
        auto v = as_number(*value);
        return v && *v == c.number;
      }
      case Kind::prefix:
        return value->starts_with(c.text);
      case Kind::suffix:
        return value->ends_with(c.text);
      case Kind::ignore_case:
        return iequals(*value, c.text);
      case Kind::numeric_range: {
        auto v = as_number(*value);
        if (!v) return false;
        if (c.low.set && (c.low.inclusive ? *v < c.low.value : *v <= c.low.value)) return false;
        if (c.high.set && (c.high.inclusive ? *v > c.high.value : *v >= c.high.value)) {
          return false;
        }
        return true;
      }
      case Kind::exists:
        return true;
      case Kind::anything_but:
        for (const Condition& e : c.excluded) {
          if (satisfies(e, value)) return false;
        }
        return true;
      case Kind::absent:
        break;
    }
    return false;
  }

  friend class FilterPolicyParser;
  std::vector<Key> keys_;
};

}  // namespace switchyard::detail
