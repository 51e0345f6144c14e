// src/match/glob.hpp — Redis PSUBSCRIBE glob matching.
//
// `glob_match(pattern, channel)` answers exactly what Redis's `stringmatchlen(pattern, channel,
// nocase = 0)` answers (the function PSUBSCRIBE, PUBSUB NUMPAT and KEYS use), byte for byte:
//
//   *        any run of bytes, also empty; consecutive stars act as one
//   ?        exactly one byte
//   [abc]    one byte out of the set;  [^abc] one byte not in it
//   [a-z]    a range, inclusive; a reversed range [z-a] is the same as [a-z]
//   \x       the byte x literally, outside and inside brackets
//   anything else matches itself (binary-safe: NUL and bytes >= 0x80 are ordinary bytes)
//
// Redis's corner cases, kept on purpose (each has a test):
//   * An empty channel matches only the empty pattern: "*" does NOT match "" (Redis's loop never
//     runs on an empty string; only KEYS short-circuits a bare "*").
//   * A trailing lone backslash matches a literal '\'.
//   * An unterminated bracket ends at the end of the pattern: "[abc" is the set {a, b, c};
//     "[" alone matches nothing; "[^" matches any one byte. "[]" matches nothing (the ']' closes
//     an empty set) and "[^]" matches any one byte.
//   * In "[a-]" the '-' starts a range whose upper end is the ']' (range 'a'..']', swapped to
//     ']'..'a'), and the bracket then runs to the end of the pattern — as in Redis.
//   * Range ends compare as `char`, which is signed on x86-64 (Redis's main platform): a byte
//     >= 0x80 is negative there, so [a-\xff] is the range -1..'a'. We emulate the x86-64 build.
//   * Redis gives up (no match) once its recursion passes 1000 nested '*'s: a pattern with more
//     than 1000 star groups followed by something never matches a non-empty channel. Kept.
//
// Every pattern is valid: Redis has no notion of a malformed glob (every byte sequence means
// something under the rules above), so there is no validator — `glob_is_literal` is offered
// instead, so a subscriber registry can route wildcard-free patterns through a hash lookup.
//
// Complexity: Redis backtracks recursively, bounded by its "skip longer matches" pruning.
// Every token but '*' consumes exactly one byte, so remembering only the most recent '*' is
// enough (the classic greedy glob); this is O(|pattern| * |channel|) worst case, without
// recursion, allocation or exceptions. Patterns like "*a*a*a*a*b" stay linear-ish.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

namespace switchyard::detail {

namespace glob_impl {

/// Redis reads the NUL terminator one past a pattern's end; `at` gives the same answer for a
/// string_view without reading past it.
constexpr char at(std::string_view p, std::size_t i) noexcept {
  return i < p.size() ? p[i] : '\0';
}

/// The outcome of matching one single-byte token against one byte.
struct Step {
  bool matched;
  std::size_t next;  ///< pattern position just after the token (independent of the byte)
};

/// Matches the bracket token starting at p[open] == '[' against byte c.
constexpr Step match_class(std::string_view p, std::size_t open, char c) noexcept {
  const std::size_t len = p.size();
  std::size_t j = open + 1;
  const bool negate = at(p, j) == '^';
  if (negate) ++j;
  bool match = false;
  for (;;) {
    if (at(p, j) == '\\' && len - j >= 2) {  // escaped byte inside the set
      ++j;
      if (p[j] == c) match = true;
    } else if (at(p, j) == ']') {  // end of the set
      break;
    } else if (j == len) {  // unterminated: the set ends with the pattern
      --j;                  // (Redis steps back so the shared "advance" lands on the end)
      break;
    } else if (len - j >= 3 && p[j + 1] == '-') {  // range; x86-64 `char` is signed
      int start = static_cast<signed char>(p[j]);
      int end = static_cast<signed char>(p[j + 2]);
      const int byte = static_cast<signed char>(c);
      if (start > end) std::swap(start, end);
      j += 2;
      if (byte >= start && byte <= end) match = true;
    } else if (p[j] == c) {
      match = true;
    }
    ++j;
  }
  return {negate ? !match : match, j + 1};
}

/// Matches the single-byte token at p[i] (anything but '*') against byte c.
constexpr Step match_one(std::string_view p, std::size_t i, char c) noexcept {
  switch (p[i]) {
    case '?':
      return {true, i + 1};
    case '[':
      return match_class(p, i, c);
    case '\\':
      if (p.size() - i >= 2) ++i;  // a lone trailing backslash is itself
      [[fallthrough]];
    default:
      return {p[i] == c, i + 1};
  }
}

/// Redis's recursion guard: more than this many nested '*' recursions never match.
inline constexpr std::size_t kMaxStarNesting = 1000;

/// True if the pattern has more than kMaxStarNesting star groups that are followed by another
/// token (a trailing star group matches without recursing, so it does not count).
constexpr bool exceeds_star_nesting(std::string_view p) noexcept {
  if (static_cast<std::size_t>(std::count(p.begin(), p.end(), '*')) <= kMaxStarNesting) {
    return false;
  }
  std::size_t groups = 0;
  std::size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '*') {
      while (i < p.size() && p[i] == '*') ++i;
      if (i < p.size()) ++groups;
    } else {
      i = match_one(p, i, '\0').next;  // token boundaries do not depend on the byte
    }
  }
  return groups > kMaxStarNesting;
}

}  // namespace glob_impl

/// True if Redis would deliver a message published to `channel` to a PSUBSCRIBE of `pattern`
/// (`stringmatchlen(pattern, channel, 0)`). noexcept, no allocation, no recursion; safe from
/// any thread. Case-sensitive (PSUBSCRIBE is).
constexpr bool glob_match(std::string_view pattern, std::string_view channel) noexcept {
  using glob_impl::match_one;
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // Redis's matching loop runs only while both sides are non-empty: an empty channel matches
  // only an empty pattern (even "*" does not match it).
  if (channel.empty()) return pattern.empty();
  if (glob_impl::exceeds_star_nesting(pattern)) return false;

  std::size_t pi = 0;          // pattern position
  std::size_t si = 0;          // channel position; always < channel.size() inside the loop
  std::size_t star_p = kNone;  // pattern position after the most recent star group
  std::size_t star_s = 0;      // channel position that star group's tail was last tried at
  for (;;) {
    if (pi < pattern.size() && pattern[pi] == '*') {
      while (pi + 1 < pattern.size() && pattern[pi + 1] == '*') ++pi;
      if (pi + 1 == pattern.size()) return true;  // a trailing '*' takes the rest
      star_p = pi + 1;
      star_s = si;
      pi = star_p;
      continue;
    }
    if (pi < pattern.size()) {
      const auto step = match_one(pattern, pi, channel[si]);
      if (step.matched) {
        pi = step.next;
        if (++si == channel.size()) {
          // Channel used up: only star groups may remain in the pattern. Moving an earlier
          // star's tail further right cannot help (every other token needs a byte).
          while (pi < pattern.size() && pattern[pi] == '*') ++pi;
          return pi == pattern.size();
        }
        continue;
      }
    }
    // Mismatch, or pattern used up with channel left: let the last star take one more byte.
    if (star_p == kNone || ++star_s == channel.size()) return false;
    pi = star_p;
    si = star_s;
  }
}

/// True if `pattern` has no special byte (`*`, `?`, `[`, `\`): it then matches exactly the
/// channel equal to it, so a registry may keep it in an exact-name index.
constexpr bool glob_is_literal(std::string_view pattern) noexcept {
  return pattern.find_first_of("*?[\\") == std::string_view::npos;
}

}  // namespace switchyard::detail
