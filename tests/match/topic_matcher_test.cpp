#include "match/topic_matcher.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

using switchyard::Errc;
using switchyard::detail::for_each_topic_word;
using switchyard::detail::TopicMatcher;

// Counts heap allocations in this test binary, to check that match() allocates nothing once the
// caller's vector has grown (not under sanitizers; see heap_counter.hpp).
#include "support/heap_counter.hpp"

using switchyard::test::heap_allocations;

namespace {

using Matcher = TopicMatcher<std::uint32_t>;

std::vector<std::uint32_t> match(const Matcher& m, std::string_view key) {
  std::vector<std::uint32_t> out;
  m.match(key, out);
  return out;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  for_each_topic_word(s, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

// Reference: the AMQP rule written as plain recursion over word lists.
bool ref_words(const std::vector<std::string>& p, std::size_t pi, const std::vector<std::string>& k,
               std::size_t ki) {
  if (pi == p.size()) return ki == k.size();
  if (p[pi] == "#") {
    for (std::size_t skip = ki; skip <= k.size(); ++skip) {
      if (ref_words(p, pi + 1, k, skip)) return true;
    }
    return false;
  }
  if (ki == k.size()) return false;
  if (p[pi] == "*" || p[pi] == k[ki]) return ref_words(p, pi + 1, k, ki + 1);
  return false;
}

bool ref_match(std::string_view pattern, std::string_view key) {
  return ref_words(words(pattern), 0, words(key), 0);
}

// One binding, one key; also checks that the reference matcher agrees on the hand-written cases.
bool matches(std::string_view pattern, std::string_view key) {
  Matcher m;
  REQUIRE(m.bind(pattern, 1));
  const bool trie = match(m, key) == std::vector<std::uint32_t>{1};
  INFO("pattern \"" << pattern << "\" key \"" << key << "\"");
  CHECK(ref_match(pattern, key) == trie);
  return trie;
}

}  // namespace

TEST_CASE("routing keys split into words at every dot - and the empty key has no words") {
  CHECK(words("a.b.c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(words("a..b") == std::vector<std::string>{"a", "", "b"});
  CHECK(words("a.") == std::vector<std::string>{"a", ""});
  CHECK(words(".a") == std::vector<std::string>{"", "a"});
  CHECK(words(".") == std::vector<std::string>{"", ""});
  CHECK(words("").empty());
}

TEST_CASE("a literal pattern matches only the same words") {
  CHECK(matches("stock.usd.nyse", "stock.usd.nyse"));
  CHECK_FALSE(matches("stock.usd.nyse", "stock.usd"));
  CHECK_FALSE(matches("stock.usd.nyse", "stock.usd.nyse.x"));
  CHECK_FALSE(matches("stock.usd.nyse", "Stock.usd.nyse"));
}

TEST_CASE("a star matches exactly one word") {
  CHECK(matches("*.orange.*", "quick.orange.rabbit"));
  CHECK_FALSE(matches("*.orange.*", "orange"));
  CHECK_FALSE(matches("*.orange.*", "quick.orange.male.rabbit"));
  CHECK(matches("*", "a"));
  CHECK_FALSE(matches("*", "a.b"));
  CHECK(matches("a.*", "a."));  // the empty word is a word
  CHECK_FALSE(matches("a.*", "a"));
}

TEST_CASE("a hash matches zero or more words at the start - in the middle and at the end") {
  CHECK(matches("lazy.#", "lazy"));
  CHECK(matches("lazy.#", "lazy.orange.male.rabbit"));
  CHECK(matches("#.rabbit", "rabbit"));
  CHECK(matches("#.rabbit", "quick.orange.rabbit"));
  CHECK_FALSE(matches("#.rabbit", "rabbit.quick"));
  CHECK(matches("a.#.b", "a.b"));
  CHECK(matches("a.#.b", "a.x.y.z.b"));
  CHECK_FALSE(matches("a.#.b", "a.x.y.z"));
  CHECK(matches("#.a.#", "a"));
  CHECK(matches("#.a.#", "x.a.y"));
  CHECK_FALSE(matches("#.a.#", "x.b.y"));
}

TEST_CASE("a lone hash matches every key including the empty key") {
  for (std::string_view key : {"", "a", "a.b.c", ".", "..", "a..b"}) {
    INFO("key \"" << key << "\"");
    CHECK(matches("#", key));
  }
}

TEST_CASE("the empty key has zero words: a star misses it and the empty pattern matches it") {
  CHECK_FALSE(matches("*", ""));
  CHECK(matches("", ""));
  CHECK_FALSE(matches("", "a"));
  CHECK(matches("#.#", ""));
  CHECK_FALSE(matches("*.#", ""));
  CHECK(matches("*", "." + std::string()) == false);  // "." is two empty words
  CHECK(matches("*.*", "."));
}

TEST_CASE("empty words match literally and by star") {
  CHECK(matches("a..b", "a..b"));
  CHECK_FALSE(matches("a..b", "a.b"));
  CHECK(matches("a.*.b", "a..b"));
  CHECK(matches("a.#.b", "a..b"));
  CHECK(matches("a.", "a."));
  CHECK_FALSE(matches("a.", "a"));
}

TEST_CASE("adjacent hashes match the same keys as one hash") {
  for (std::string_view key : {"", "a", "a.b", "x.a.b.y"}) {
    INFO("key \"" << key << "\"");
    CHECK(matches("#.#", key));
    CHECK(matches("#.#.#", key));
  }
  CHECK(matches("a.#.#.b", "a.b"));
  CHECK(matches("a.#.#.b", "a.1.2.3.b"));
  CHECK(matches("#.*.#", "x"));
  CHECK_FALSE(matches("#.*.#", ""));
}

TEST_CASE("words that mix star or hash with other bytes are literal - as in RabbitMQ") {
  CHECK(matches("a*.b", "a*.b"));
  CHECK_FALSE(matches("a*.b", "ab.b"));
  CHECK(matches("##", "##"));
  CHECK_FALSE(matches("##", "x"));
  CHECK(matches("#a", "#a"));
  CHECK_FALSE(matches("**", "x"));
}

TEST_CASE("the RabbitMQ tutorial bindings route as the tutorial says") {
  Matcher m;
  REQUIRE(m.bind("*.orange.*", 1));
  REQUIRE(m.bind("*.*.rabbit", 2));
  REQUIRE(m.bind("lazy.#", 2));
  using V = std::vector<std::uint32_t>;
  CHECK(match(m, "quick.orange.rabbit") == V{1, 2});
  CHECK(match(m, "lazy.orange.elephant") == V{1, 2});
  CHECK(match(m, "quick.orange.fox") == V{1});
  CHECK(match(m, "lazy.brown.fox") == V{2});
  CHECK(match(m, "lazy.pink.rabbit") == V{2});  // two bindings of 2 match: delivered once
  CHECK(match(m, "quick.brown.fox").empty());
  CHECK(match(m, "orange").empty());
  CHECK(match(m, "quick.orange.male.rabbit").empty());
  CHECK(match(m, "lazy.orange.male.rabbit") == V{2});
}

TEST_CASE("an id bound by several matching patterns is delivered once - in ascending order") {
  Matcher m;
  for (auto p : {"#", "a.#", "*.b", "a.b", "#.b", "a.*"}) REQUIRE(m.bind(p, 7));
  REQUIRE(m.bind("a.b", 3));
  REQUIRE(m.bind("#", 9));
  CHECK(match(m, "a.b") == std::vector<std::uint32_t>{3, 7, 9});
}

TEST_CASE("binding the same pattern and id twice is one binding") {
  Matcher m;
  REQUIRE(m.bind("a.*", 1));
  REQUIRE(m.bind("a.*", 1));
  CHECK(m.size() == 1);
  CHECK(m.unbind("a.*", 1));
  CHECK(m.empty());
  CHECK(match(m, "a.b").empty());
}

TEST_CASE("unbinding removes only that pattern of that id") {
  Matcher m;
  REQUIRE(m.bind("a.*", 1));
  REQUIRE(m.bind("a.#", 1));
  REQUIRE(m.bind("a.*", 2));
  CHECK(m.size() == 3);
  CHECK(m.unbind("a.*", 1));
  CHECK(match(m, "a.b") == std::vector<std::uint32_t>{1, 2});  // 1 still via a.#
  CHECK_FALSE(m.unbind("a.*", 1));
  CHECK_FALSE(m.unbind("a.b", 1));
  CHECK_FALSE(m.unbind("zzz", 1));
  CHECK(m.contains("a.#", 1));
  CHECK_FALSE(m.contains("a.*", 1));
  CHECK(m.contains("a.*", 2));
  CHECK(m.size() == 2);
}

TEST_CASE("hash-hash and hash are different bindings even though they match alike") {
  Matcher m;
  REQUIRE(m.bind("#", 1));
  REQUIRE(m.bind("#.#", 1));
  CHECK(m.size() == 2);
  CHECK(m.unbind("#", 1));
  CHECK(match(m, "x.y") == std::vector<std::uint32_t>{1});
}

TEST_CASE("unbinding the last binding frees the trie nodes it used") {
  Matcher m;
  const std::size_t root_only = m.node_count();
  REQUIRE(m.bind("a.b.c.#.*", 1));
  REQUIRE(m.bind("a.b.x", 2));
  CHECK(m.node_count() == root_only + 6);
  CHECK(m.unbind("a.b.c.#.*", 1));
  CHECK(m.node_count() == root_only + 3);
  CHECK(m.unbind("a.b.x", 2));
  CHECK(m.node_count() == root_only);
  // Freed nodes are reused and the trie still matches correctly.
  REQUIRE(m.bind("q.#", 3));
  CHECK(match(m, "q.r.s") == std::vector<std::uint32_t>{3});
  CHECK(match(m, "a.b.x").empty());
}

TEST_CASE("a pattern longer than an AMQP short string is rejected with invalid_argument") {
  Matcher m;
  const std::string longest(255, 'a');
  CHECK(m.bind(longest, 1));
  const auto status = m.bind(longest + "a", 1);
  CHECK(status.code() == Errc::invalid_argument);
  CHECK_THAT(status.message(), Catch::Contains("256 bytes"));
  CHECK(m.size() == 1);
}

TEST_CASE("clear removes every binding") {
  Matcher m;
  REQUIRE(m.bind("a.#", 1));
  REQUIRE(m.bind("*.b", 2));
  m.clear();
  CHECK(m.empty());
  CHECK(m.node_count() == 1);
  CHECK(match(m, "a.b").empty());
  REQUIRE(m.bind("a.b", 3));
  CHECK(match(m, "a.b") == std::vector<std::uint32_t>{3});
}

TEST_CASE("a copy matches like the original and changes independently") {
  Matcher m;
  REQUIRE(m.bind("a.*", 1));
  Matcher copy = m;
  REQUIRE(copy.bind("a.b", 2));
  CHECK(m.unbind("a.*", 1));
  CHECK(match(copy, "a.b") == std::vector<std::uint32_t>{1, 2});
  CHECK(match(m, "a.b").empty());
}

TEST_CASE("the matcher works with any ordered id type - such as a string") {
  TopicMatcher<std::string_view> m;
  REQUIRE(m.bind("logs.#", "audit"));
  REQUIRE(m.bind("logs.error", "pager"));
  std::vector<std::string_view> out;
  m.match("logs.error", out);
  CHECK(out == std::vector<std::string_view>{"audit", "pager"});
}

TEST_CASE("match into a reused vector allocates nothing") {
  Matcher m;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    REQUIRE(m.bind("orders." + std::to_string(i) + ".#", i));
    REQUIRE(m.bind("*.*." + std::to_string(i), i + 1000));
  }
  REQUIRE(m.bind("#", 5000));
  std::vector<std::uint32_t> out;
  Matcher::Scratch scratch;
  m.match("orders.17.created.42", out, scratch);  // warm up capacities
  m.match("orders.17.created.42", out);           // and this thread's own scratch
  const std::size_t before = heap_allocations.load(std::memory_order_relaxed);
  for (int i = 0; i < 100; ++i) {
    m.match("orders.17.created.42", out, scratch);
    m.match("orders.17.x.17", out);
  }
  if (switchyard::test::kCountsHeapAllocations) {
    CHECK(heap_allocations.load(std::memory_order_relaxed) == before);
  } else {
    CHECK(before == 0);  // sanitizer build: allocations are not counted
  }
  m.match("orders.17.created.42", out);
  CHECK(out == std::vector<std::uint32_t>{17, 5000});
}

TEST_CASE("hash-heavy patterns against long keys finish quickly") {
  Matcher m;
  REQUIRE(m.bind("#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.z", 1));
  REQUIRE(m.bind("#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.a.#.b", 2));
  std::string key = "a";
  for (int i = 0; i < 200; ++i) key += ".a";
  const auto start = std::chrono::steady_clock::now();
  CHECK(match(m, key).empty());
  CHECK(match(m, key + ".z") == std::vector<std::uint32_t>{1});
  CHECK(match(m, key + ".b") == std::vector<std::uint32_t>{2});
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("the trie agrees with a recursive reference matcher on random patterns and keys") {
  const std::vector<std::string> pattern_words{"a", "b", "", "*", "#", "a*", "c"};
  const std::vector<std::string> key_words{"a", "b", "", "c", "a*", "#"};
  std::mt19937 rng(424242);
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  auto random_topic = [&](const std::vector<std::string>& from, std::size_t max_words) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, max_words)(rng);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      if (i != 0) s += '.';
      s += pick(from);
    }
    return s;
  };
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kBindings = 1500, kKeys = 300;
#else
  constexpr int kBindings = 4000, kKeys = 2000;
#endif
  Matcher m;
  std::vector<std::pair<std::string, std::uint32_t>> bindings;
  for (int i = 0; i < kBindings; ++i) {
    // Ids repeat so that several patterns share an id; patterns repeat too.
    auto binding = std::make_pair(random_topic(pattern_words, 5),
                                  std::uniform_int_distribution<std::uint32_t>(0, 999)(rng));
    REQUIRE(m.bind(binding.first, binding.second));
    bindings.push_back(std::move(binding));
  }
  auto check_against_reference = [&](const std::set<std::pair<std::string, std::uint32_t>>& live) {
    CHECK(m.size() == live.size());
    std::vector<std::uint32_t> out;
    std::vector<std::pair<std::vector<std::string>, std::uint32_t>> split;
    for (const auto& [pattern, id] : live) split.emplace_back(words(pattern), id);
    std::size_t non_empty = 0;
    for (int i = 0; i < kKeys; ++i) {
      const std::string key = random_topic(key_words, 7);
      const std::vector<std::string> key_split = words(key);
      std::set<std::uint32_t> expected;
      for (const auto& [pattern, id] : split) {
        if (ref_words(pattern, 0, key_split, 0)) expected.insert(id);
      }
      m.match(key, out);
      INFO("key \"" << key << "\"");
      REQUIRE(out == std::vector<std::uint32_t>(expected.begin(), expected.end()));
      non_empty += out.empty() ? 0 : 1;
    }
    CHECK(non_empty > 0);
  };
  std::set<std::pair<std::string, std::uint32_t>> live(bindings.begin(), bindings.end());
  check_against_reference(live);

  // Unbind a random half and check again: pruning must not lose other bindings.
  std::shuffle(bindings.begin(), bindings.end(), rng);
  for (std::size_t i = 0; i < bindings.size() / 2; ++i) {
    const bool was_live = live.erase(bindings[i]) == 1;
    CHECK(m.unbind(bindings[i].first, bindings[i].second) == was_live);
  }
  check_against_reference(live);
  for (const auto& [pattern, id] : live) REQUIRE(m.unbind(pattern, id));
  CHECK(m.empty());
  CHECK(m.node_count() == 1);
}

TEST_CASE("const match runs concurrently from several threads") {
  Matcher m;
  for (std::uint32_t i = 0; i < 200; ++i) {
    REQUIRE(m.bind("t." + std::to_string(i) + ".*", i));
    REQUIRE(m.bind("#." + std::to_string(i), i + 1000));
  }
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kRounds = 2000;
#else
  constexpr int kRounds = 20000;
#endif
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::vector<std::uint32_t> out;
      for (int r = 0; r < kRounds; ++r) {
        const auto i = static_cast<std::uint32_t>((r * 7 + t) % 200);
        m.match("t." + std::to_string(i) + "." + std::to_string(i), out);
        if (out != std::vector<std::uint32_t>{i, i + 1000}) {
          wrong.fetch_add(1, std::memory_order_relaxed);  // a counter only
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  CHECK(wrong.load(std::memory_order_relaxed) == 0);
}
