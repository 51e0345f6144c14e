#include "match/glob.hpp"

#include <catch2/catch.hpp>

#include <bitset>
#include <chrono>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>

using switchyard::detail::glob_is_literal;
using switchyard::detail::glob_match;

namespace {

// ---------------------------------------------------------------------------------------------
// Reference matcher: Redis's stringmatchlen semantics written as plain exhaustive recursion over
// tokens (no pruning), with bracket sets parsed into a 256-bit set. Slow but obviously faithful
// on short inputs; the property test below checks glob_match against it.
struct RefClass {
  std::bitset<256> set;
  bool negate = false;
  std::size_t next = 0;
};

int as_signed(unsigned char b) {
  return static_cast<signed char>(b);
}

RefClass ref_parse_class(std::string_view p, std::size_t open) {
  RefClass cls;
  std::size_t j = open + 1;
  if (j < p.size() && p[j] == '^') {
    cls.negate = true;
    ++j;
  }
  for (;;) {
    if (j >= p.size()) {  // unterminated: the set runs to the end of the pattern
      cls.next = p.size();
      return cls;
    }
    const auto c = static_cast<unsigned char>(p[j]);
    if (c == '\\' && j + 1 < p.size()) {
      cls.set.set(static_cast<unsigned char>(p[j + 1]));
      j += 2;
    } else if (c == ']') {
      cls.next = j + 1;
      return cls;
    } else if (j + 2 < p.size() && p[j + 1] == '-') {
      int lo = as_signed(c);
      int hi = as_signed(static_cast<unsigned char>(p[j + 2]));
      if (lo > hi) std::swap(lo, hi);
      for (int b = 0; b < 256; ++b) {
        const int v = as_signed(static_cast<unsigned char>(b));
        if (v >= lo && v <= hi) cls.set.set(static_cast<std::size_t>(b));
      }
      j += 3;
    } else {
      cls.set.set(c);
      ++j;
    }
  }
}

// One non-star token at p[pi] against byte c: {matched, position after the token}.
std::pair<bool, std::size_t> ref_one(std::string_view p, std::size_t pi, char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (p[pi] == '?') return {true, pi + 1};
  if (p[pi] == '[') {
    const RefClass cls = ref_parse_class(p, pi);
    return {cls.set.test(byte) != cls.negate, cls.next};
  }
  if (p[pi] == '\\' && pi + 1 < p.size()) return {p[pi + 1] == c, pi + 2};
  return {p[pi] == c, pi + 1};
}

bool ref_rec(std::string_view p, std::string_view s, std::size_t pi, std::size_t si, int depth) {
  if (depth > 1000) return false;    // Redis's nesting guard
  if (pi == p.size()) return false;  // pattern used up, channel left (si < s.size() here)
  if (p[pi] == '*') {
    while (pi + 1 < p.size() && p[pi + 1] == '*') ++pi;
    if (pi + 1 == p.size()) return true;
    for (std::size_t t = si; t < s.size(); ++t) {
      if (ref_rec(p, s, pi + 1, t, depth + 1)) return true;
    }
    return false;
  }
  const auto [matched, next] = ref_one(p, pi, s[si]);
  if (!matched) return false;
  if (si + 1 == s.size()) {
    std::size_t rest = next;
    while (rest < p.size() && p[rest] == '*') ++rest;
    return rest == p.size();
  }
  return ref_rec(p, s, next, si + 1, depth);
}

bool ref_match(std::string_view p, std::string_view s) {
  if (s.empty()) return p.empty();
  return ref_rec(p, s, 0, 0, 0);
}

}  // namespace

TEST_CASE("a glob without special bytes matches only the identical channel") {
  CHECK(glob_match("news.sport", "news.sport"));
  CHECK_FALSE(glob_match("news.sport", "news.sports"));
  CHECK_FALSE(glob_match("news.sport", "news.spor"));
  CHECK_FALSE(glob_match("News", "news"));  // case-sensitive, as PSUBSCRIBE is
  CHECK(glob_is_literal("news.sport"));
  CHECK_FALSE(glob_is_literal("news.*"));
  CHECK_FALSE(glob_is_literal("a\\b"));
}

TEST_CASE("a star matches any run of bytes including none") {
  CHECK(glob_match("news.*", "news.sport"));
  CHECK(glob_match("news.*", "news."));
  CHECK(glob_match("*", "anything at all"));
  CHECK(glob_match("h*llo", "hllo"));
  CHECK(glob_match("h*llo", "heeeello"));
  CHECK(glob_match("*sport", "news.sport"));
  CHECK(glob_match("a*b*c", "a--b--c"));
  CHECK_FALSE(glob_match("a*b*c", "a--c--b"));
  CHECK(glob_match("a***b", "axxb"));  // consecutive stars act as one
}

TEST_CASE("an empty channel matches only the empty pattern - not even a star") {
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("*", ""));
  CHECK_FALSE(glob_match("**", ""));
  CHECK_FALSE(glob_match("?", ""));
  CHECK_FALSE(glob_match("", "a"));
  // Once a byte has been consumed, trailing stars may match nothing.
  CHECK(glob_match("a*", "a"));
  CHECK(glob_match("a**", "a"));
}

TEST_CASE("a question mark matches exactly one byte") {
  CHECK(glob_match("h?llo", "hello"));
  CHECK(glob_match("h?llo", "hallo"));
  CHECK_FALSE(glob_match("h?llo", "hllo"));
  CHECK_FALSE(glob_match("h?llo", "heello"));
  CHECK(glob_match("???", "\xe2\x82\xac"));  // one UTF-8 code point is three bytes
}

TEST_CASE("a bracket matches one byte of its set and a caret negates it") {
  CHECK(glob_match("h[ae]llo", "hello"));
  CHECK(glob_match("h[ae]llo", "hallo"));
  CHECK_FALSE(glob_match("h[ae]llo", "hillo"));
  CHECK(glob_match("h[^e]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK_FALSE(glob_match("h[^e]llo", "hllo"));
}

TEST_CASE("a bracket range is inclusive and a reversed range means the same range") {
  CHECK(glob_match("h[a-b]llo", "hallo"));
  CHECK(glob_match("h[a-b]llo", "hbllo"));
  CHECK_FALSE(glob_match("h[a-b]llo", "hcllo"));
  CHECK(glob_match("[z-a]", "m"));
  CHECK(glob_match("[z-a]", "a"));
  CHECK(glob_match("[z-a]", "z"));
  CHECK_FALSE(glob_match("[z-a]", "A"));
  CHECK(glob_match("[0-9a-f]x", "cx"));
  CHECK(glob_match("[^0-9]", "x"));
  CHECK_FALSE(glob_match("[^0-9]", "5"));
}

TEST_CASE("a backslash escapes the next byte outside and inside brackets") {
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("\\?", "?"));
  CHECK_FALSE(glob_match("\\?", "x"));
  CHECK(glob_match("\\[a]", "[a]"));
  CHECK(glob_match("[\\]]", "]"));
  CHECK(glob_match("[\\-a]", "-"));
  CHECK_FALSE(glob_match("[\\-a]", "b"));
  CHECK(glob_match("[a\\-z]", "-"));  // an escaped '-' does not make a range
  CHECK_FALSE(glob_match("[a\\-z]", "m"));
  CHECK(glob_match("\\\\", "\\"));
}

TEST_CASE("a trailing lone backslash matches a literal backslash") {
  CHECK(glob_match("a\\", "a\\"));
  CHECK_FALSE(glob_match("a\\", "a"));
}

TEST_CASE("an unterminated bracket runs to the end of the pattern as Redis does") {
  CHECK(glob_match("[abc", "a"));
  CHECK(glob_match("[abc", "c"));
  CHECK_FALSE(glob_match("[abc", "d"));
  CHECK_FALSE(glob_match("[abc", "ab"));  // the whole rest of the pattern is one set
  CHECK_FALSE(glob_match("[", "["));      // a lone '[' is an empty set
  CHECK_FALSE(glob_match("[", "a"));
  CHECK(glob_match("[^", "x"));  // a lone "[^" is the negated empty set: any one byte
  CHECK_FALSE(glob_match("[^", "xy"));
  CHECK(glob_match("x[", "x") == false);
}

TEST_CASE("an empty bracket matches nothing and its negation matches any byte") {
  CHECK_FALSE(glob_match("[]", "]"));
  CHECK_FALSE(glob_match("[]", "a"));
  CHECK(glob_match("[^]a", "xa"));
  CHECK_FALSE(glob_match("[^]a", "xb"));
}

TEST_CASE("a dash before the closing bracket starts a range that swallows the bracket") {
  // "[a-]": range 'a'..']' (swapped to ']'..'a': 93..97), then the set is unterminated.
  CHECK(glob_match("[a-]", "^"));
  CHECK(glob_match("[a-]", "a"));
  CHECK(glob_match("[a-]", "]"));
  CHECK_FALSE(glob_match("[a-]", "-"));
  CHECK_FALSE(glob_match("[a-]x", "ax"));  // "x" is inside the unterminated set
}

TEST_CASE("range ends compare as signed bytes like Redis on x86-64") {
  // 0xff is -1 as a signed char: [a-\xff] is the range -1..'a'.
  CHECK(glob_match("[a-\xff]", "\xff"));
  CHECK(glob_match("[a-\xff]", "0"));
  CHECK_FALSE(glob_match("[a-\xff]", "\x80"));
  CHECK_FALSE(glob_match("[a-\xff]", "b"));
  CHECK(glob_match("[\x80-\xff]", "\xc3"));  // both ends negative: -128..-1
  CHECK_FALSE(glob_match("[\x80-\xff]", "a"));
}

TEST_CASE("a glob is binary-safe: NUL and high bytes are ordinary bytes") {
  using namespace std::string_view_literals;
  CHECK(glob_match("a\0b"sv, "a\0b"sv));
  CHECK_FALSE(glob_match("a\0b"sv, "a"sv));
  CHECK(glob_match("a?b"sv, "a\0b"sv));
  CHECK(glob_match("*\xe9"sv, "caf\xe9"sv));
}

TEST_CASE("psubscribe-style patterns route channels as Redis does") {
  // The shapes of Redis's own pub/sub tests: foo.* and bar.* against published channels.
  CHECK(glob_match("foo.*", "foo.1"));
  CHECK(glob_match("foo.*", "foo.bar.baz"));
  CHECK_FALSE(glob_match("foo.*", "foo"));
  CHECK_FALSE(glob_match("bar.*", "foo.1"));
  CHECK(glob_match("__keyspace@0__:*", "__keyspace@0__:mykey"));
  CHECK(glob_match("user:????", "user:1234"));
  CHECK_FALSE(glob_match("user:????", "user:123"));
  CHECK(glob_match("user:*:group", "user:42:group"));
}

TEST_CASE("nested stars against a long channel finish quickly") {
  // Redis's "pattern matching long nested loops" regression shape: a backtracking matcher
  // without pruning takes exponential time here.
  std::string pattern;
  for (int i = 0; i < 24; ++i) pattern += "a*";
  pattern += "b";
  const std::string channel(5000, 'a');
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(glob_match(pattern, channel));
  CHECK(glob_match(pattern, channel + "b"));
  CHECK(glob_match("*a*a*a*a*b", channel + "b"));
  CHECK_FALSE(glob_match("*a*a*a*a*b", channel));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < std::chrono::seconds(2));
}

TEST_CASE("more than a thousand nested stars never match - as Redis's recursion guard decides") {
  std::string deep;  // 1001 star groups each followed by "?": Redis gives up at depth 1001
  for (int i = 0; i < 1001; ++i) deep += "*?";
  CHECK_FALSE(glob_match(deep, std::string(3000, 'x')));
  std::string shallow;  // 1000 groups is still within the guard
  for (int i = 0; i < 1000; ++i) shallow += "*?";
  CHECK(glob_match(shallow, std::string(3000, 'x')));
  // A trailing star group does not recurse, so it does not count.
  CHECK(glob_match(shallow + "*", std::string(3000, 'x')));
  // Redis's "very long nested loops" regression: 50,000 groups, answered at once.
  std::string huge;
  for (int i = 0; i < 50000; ++i) huge += "*?";
  CHECK_FALSE(glob_match(huge, std::string(100, 'x')));
}

TEST_CASE("glob_match agrees with an exhaustive reference matcher on random patterns") {
  // Alphabets rich in the special bytes so brackets, ranges, escapes and stars interact.
  constexpr std::string_view kPatternBytes = "ab*?[]^-\\\xe9";
  constexpr std::string_view kChannelBytes = "ab]^-\\\xe9";
  std::mt19937 rng(20240611);
  auto random_string = [&](std::string_view alphabet, std::size_t max_len) {
    std::string s(std::uniform_int_distribution<std::size_t>(0, max_len)(rng), ' ');
    for (char& c : s)
      c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    return s;
  };
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kPatterns = 3000;
#else
  constexpr int kPatterns = 30000;
#endif
  int matches = 0;
  for (int i = 0; i < kPatterns; ++i) {
    const std::string pattern = random_string(kPatternBytes, 9);
    for (int j = 0; j < 8; ++j) {
      const std::string channel = random_string(kChannelBytes, 8);
      const bool expected = ref_match(pattern, channel);
      matches += expected ? 1 : 0;
      INFO("pattern \"" << pattern << "\" channel \"" << channel << "\"");
      REQUIRE(glob_match(pattern, channel) == expected);
    }
  }
  CHECK(matches > kPatterns / 20);  // the sample exercises matches, not only mismatches
}
