// src/match/topic_matcher.hpp — AMQP 0-9-1 topic-exchange matching over a word trie.
//
// A topic exchange routes a message to every binding whose pattern matches the routing key.
// `TopicMatcher<Id>` holds (pattern, Id) bindings and answers "which Ids match this key"
// without scanning the patterns: patterns share a trie keyed by word, and a key walks it once.
//
// Words (as RabbitMQ splits them — rabbit_db_topic_exchange:split_topic_key)
//   * Keys and patterns are split at every '.'. Empty words are words: "a..b" is a, "", b;
//     "a." is a, ""; ".a" is "", a.
//   * The empty string is ZERO words (not one empty word). So "#" matches "", "*" does not,
//     and the pattern "" matches only the key "".
//   * In a pattern, a word that is exactly "*" matches exactly one word and a word that is
//     exactly "#" matches zero or more words. Any other word is literal, including words that
//     merely contain '*' or '#' ("a*", "##", "#a"): RabbitMQ treats them literally too, so
//     there is no malformed pattern. "#" anywhere (start, middle, end, "#.#") is supported.
//   * Bytes are compared exactly (case-sensitive, binary-safe).
//
// Matching runs the pattern trie as an NFA: the set of live trie nodes is advanced one key word
// at a time (literal edge, '*' edge, and a '#' node stays live on any word; reaching a node
// also reaches its '#' child, which may match zero words). Work per key is
// O(words x live nodes), independent of how many bindings exist and immune to the blow-up a
// backtracking matcher has on patterns like "#.#.#.#" or "#.a.#.a.#.a".
//
// Threads and lifetimes
//   * Not synchronized. Const members (match, size, contains, ...) may run concurrently with
//     each other; bind/unbind/clear need exclusive access (the exchange guards the matcher with
//     a shared_mutex or publishes immutable copies — the class is copyable for that).
//   * match() keeps no reference to its arguments. With a reused `out` vector (and `Scratch`)
//     it allocates nothing once their capacities have grown to the working size.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "switchyard/error.hpp"

namespace switchyard::detail {

/// Longest pattern `TopicMatcher::bind` accepts: an AMQP binding key is a shortstr (255 bytes).
inline constexpr std::size_t kMaxTopicPatternBytes = 255;

/// Calls `on_word(std::string_view word)` for each '.'-separated word of `key`, following
/// RabbitMQ's split: "" has no words, "a..b" has three. Returns the number of words.
template <class F>
constexpr std::size_t for_each_topic_word(std::string_view key, F&& on_word) {
  if (key.empty()) return 0;
  std::size_t count = 0;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t dot = key.find('.', begin);
    ++count;
    if (dot == std::string_view::npos) {
      on_word(key.substr(begin));
      return count;
    }
    on_word(key.substr(begin, dot - begin));
    begin = dot + 1;
  }
}

template <class Id>
class TopicMatcher {
  static_assert(
      std::totally_ordered<Id>,
      "TopicMatcher<Id> keeps Ids sorted to deliver each at most once: Id needs < and ==");
  static_assert(std::is_nothrow_copy_constructible_v<Id> &&
                    std::is_nothrow_move_constructible_v<Id> &&
                    std::is_nothrow_move_assignable_v<Id>,
                "TopicMatcher<Id> copies Ids into match() results and unbind() is noexcept: use "
                "a small value type (an integer binding id or a pointer), nothrow copyable");

 public:
  /// Per-thread working memory for match(). Reusing one keeps match() allocation-free.
  struct Scratch {
    std::vector<std::uint32_t> live;
    std::vector<std::uint32_t> next;
    std::vector<std::uint32_t> seen;  ///< per node: the step that last reached it
    std::uint32_t stamp = 0;
  };

  TopicMatcher() { nodes_.emplace_back(); }  // node 0 is the root

  /// Binds `id` to `pattern`. Idempotent: binding the same (pattern, id) again changes nothing
  /// and succeeds (as in RabbitMQ). Fails with `invalid_argument` if the pattern is longer than
  /// kMaxTopicPatternBytes. Throws std::bad_alloc only. Needs exclusive access.
  Status bind(std::string_view pattern, Id id) {
    if (pattern.size() > kMaxTopicPatternBytes) {
      return Status(Errc::invalid_argument,
                    "topic binding pattern is " + std::to_string(pattern.size()) +
                        " bytes; the limit is " + std::to_string(kMaxTopicPatternBytes));
    }
    std::uint32_t node = kRoot;
    try {
      for_each_topic_word(pattern, [&](std::string_view word) { node = child_or_add(node, word); });
      auto& ids = nodes_[node].ids;
      const auto it = std::lower_bound(ids.begin(), ids.end(), id);
      if (it != ids.end() && *it == id) return {};
      ids.insert(it, id);
    } catch (...) {
      prune(node);  // free the nodes this call created for nothing; the trie is as before
      throw;
    }
    ++size_;
    return {};
  }

  /// Removes the binding (pattern, id). False if there was none. Trie nodes left without
  /// bindings or children are freed. Needs exclusive access; does not throw.
  bool unbind(std::string_view pattern, const Id& id) noexcept {
    const std::uint32_t node = find(pattern);
    if (node == kNone) return false;
    auto& ids = nodes_[node].ids;
    const auto it = std::lower_bound(ids.begin(), ids.end(), id);
    if (it == ids.end() || !(*it == id)) return false;
    ids.erase(it);
    --size_;
    prune(node);
    return true;
  }

  /// True if (pattern, id) is bound. Pattern words are compared as written: "#.#" and "#"
  /// are different bindings even though they match the same keys.
  [[nodiscard]] bool contains(std::string_view pattern, const Id& id) const noexcept {
    const std::uint32_t node = find(pattern);
    if (node == kNone) return false;
    const auto& ids = nodes_[node].ids;
    return std::binary_search(ids.begin(), ids.end(), id);
  }

  /// Replaces the contents of `out` with every Id bound to a pattern that matches
  /// `routing_key`, each Id once (even if several of its patterns match), in ascending order.
  /// Allocates only to grow `out` or `scratch`. Const: safe alongside other const calls.
  void match(std::string_view routing_key, std::vector<Id>& out, Scratch& scratch) const {
    out.clear();
    if (size_ == 0) return;
    if (scratch.seen.size() < nodes_.size()) scratch.seen.resize(nodes_.size(), 0);
    auto& live = scratch.live;
    auto& next = scratch.next;
    live.clear();
    new_step(scratch);
    reach(kRoot, live, scratch);

    bool dead = false;
    for_each_topic_word(routing_key, [&](std::string_view word) {
      if (dead) return;
      next.clear();
      new_step(scratch);
      const std::size_t word_hash = hash_word(word);
      for (const std::uint32_t n : live) {
        const Node& node = nodes_[n];
        if (node.is_hash) reach(n, next, scratch);  // '#' takes this word too
        if (node.star != kNone) reach(node.star, next, scratch);
        if (node.literal_children != 0) {
          const auto edge = edges_.find(EdgeProbe{n, word, word_hash});
          if (edge != edges_.end()) reach(edge->second, next, scratch);
        }
      }
      live.swap(next);
      dead = live.empty();
    });

    std::size_t contributors = 0;
    for (const std::uint32_t n : live) {
      const auto& ids = nodes_[n].ids;
      if (ids.empty()) continue;
      ++contributors;
      out.insert(out.end(), ids.begin(), ids.end());
    }
    if (contributors > 1) {  // one node's ids are already sorted and distinct
      std::sort(out.begin(), out.end());
      out.erase(std::unique(out.begin(), out.end()), out.end());
    }
  }

  /// As above, with this thread's own Scratch (allocation-free in the steady state).
  void match(std::string_view routing_key, std::vector<Id>& out) const {
    thread_local Scratch scratch;
    match(routing_key, out, scratch);
  }

  /// Number of (pattern, id) bindings.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Trie nodes in use, the root included (diagnostics and tests: shows that unbind frees).
  [[nodiscard]] std::size_t node_count() const noexcept { return nodes_.size() - free_.size(); }

  /// Removes every binding. Needs exclusive access.
  void clear() noexcept {
    nodes_.resize(1);
    nodes_[kRoot] = Node{};
    edges_.clear();
    free_.clear();
    size_ = 0;
  }

 private:
  static constexpr std::uint32_t kRoot = 0;
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  enum class Edge : std::uint8_t { root, literal, star, hash };

  struct Node {
    std::vector<Id> ids;  // sorted, distinct
    std::string word;     // the literal word on the edge from the parent (literal nodes only)
    std::uint32_t parent = kNone;
    std::uint32_t star = kNone;
    std::uint32_t hash = kNone;
    std::uint32_t literal_children = 0;
    Edge edge = Edge::root;
    bool is_hash = false;
  };

  // Literal edges of all nodes live in one hash map keyed by (parent, word).
  struct EdgeKey {
    std::uint32_t parent;
    std::size_t word_hash;
    std::string word;
  };
  struct EdgeProbe {
    std::uint32_t parent;
    std::string_view word;
    std::size_t word_hash;
  };
  struct EdgeHash {
    using is_transparent = void;
    static std::size_t mix(std::uint32_t parent, std::size_t word_hash) noexcept {
      return word_hash ^ (static_cast<std::size_t>(parent) * 0x9e3779b97f4a7c15ULL);
    }
    std::size_t operator()(const EdgeKey& k) const noexcept { return mix(k.parent, k.word_hash); }
    std::size_t operator()(const EdgeProbe& k) const noexcept { return mix(k.parent, k.word_hash); }
  };
  struct EdgeEqual {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return a.parent == b.parent && a.word_hash == b.word_hash &&
             std::string_view(a.word) == std::string_view(b.word);
    }
  };

  static std::size_t hash_word(std::string_view word) noexcept {
    return std::hash<std::string_view>{}(word);
  }

  static void new_step(Scratch& scratch) {
    if (++scratch.stamp == 0) {  // wrapped: forget every old mark
      std::fill(scratch.seen.begin(), scratch.seen.end(), 0);
      scratch.stamp = 1;
    }
  }

  // Adds `n` to `set` unless already there this step, then its '#' child (which may match
  // zero words), and so on down a "#.#" chain.
  void reach(std::uint32_t n, std::vector<std::uint32_t>& set, Scratch& scratch) const {
    while (n != kNone && scratch.seen[n] != scratch.stamp) {
      scratch.seen[n] = scratch.stamp;
      set.push_back(n);
      n = nodes_[n].hash;
    }
  }

  std::uint32_t find(std::string_view pattern) const noexcept {
    std::uint32_t node = kRoot;
    for_each_topic_word(pattern, [&](std::string_view word) {
      if (node == kNone) return;
      const Node& n = nodes_[node];
      if (word == "*") {
        node = n.star;
      } else if (word == "#") {
        node = n.hash;
      } else {
        const auto edge = edges_.find(EdgeProbe{node, word, hash_word(word)});
        node = edge == edges_.end() ? kNone : edge->second;
      }
    });
    return node;
  }

  // Makes room for one more node so that new_node() cannot throw. Keeps free_'s capacity at
  // least nodes_.size(), so prune() can always push a freed index without allocating. Grows
  // both geometrically (reserving one more each time would copy the trie on every bind).
  void reserve_node() {
    if (!free_.empty()) return;
    if (nodes_.size() >= kNone - 1) throw std::length_error("TopicMatcher: too many trie nodes");
    if (nodes_.size() == nodes_.capacity()) {
      const std::size_t grown = std::min<std::size_t>(kNone - 1, 2 * nodes_.size() + 8);
      nodes_.reserve(grown);
    }
    free_.reserve(nodes_.capacity());
  }

  // Precondition: reserve_node() ran since the last new_node().
  std::uint32_t new_node(std::uint32_t parent, Edge edge) noexcept {
    std::uint32_t n;
    if (!free_.empty()) {
      n = free_.back();
      free_.pop_back();
      nodes_[n] = Node{};
    } else {
      n = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();  // capacity reserved: does not allocate
    }
    nodes_[n].parent = parent;
    nodes_[n].edge = edge;
    nodes_[n].is_hash = edge == Edge::hash;
    return n;
  }

  // The child of `parent` along `word`, created if missing. Strong guarantee: on throw the
  // trie is unchanged.
  std::uint32_t child_or_add(std::uint32_t parent, std::string_view word) {
    if (word == "*" || word == "#") {
      const bool star = word == "*";
      std::uint32_t& slot = star ? nodes_[parent].star : nodes_[parent].hash;
      if (slot != kNone) return slot;
      reserve_node();
      const std::uint32_t n = new_node(parent, star ? Edge::star : Edge::hash);
      (star ? nodes_[parent].star : nodes_[parent].hash) = n;  // nodes_ may have moved
      return n;
    }
    const std::size_t word_hash = hash_word(word);
    if (const auto edge = edges_.find(EdgeProbe{parent, word, word_hash}); edge != edges_.end()) {
      return edge->second;
    }
    std::string node_word(word);
    reserve_node();
    const auto edge = edges_.emplace(EdgeKey{parent, word_hash, std::string(word)}, kNone).first;
    const std::uint32_t n = new_node(parent, Edge::literal);  // nothrow from here on
    edge->second = n;
    nodes_[n].word = std::move(node_word);
    ++nodes_[parent].literal_children;
    return n;
  }

  // Frees `n` and its ancestors while they hold no binding and no child.
  void prune(std::uint32_t n) noexcept {
    while (n != kRoot) {
      Node& node = nodes_[n];
      if (!node.ids.empty() || node.star != kNone || node.hash != kNone ||
          node.literal_children != 0) {
        return;
      }
      const std::uint32_t parent = node.parent;
      Node& up = nodes_[parent];
      switch (node.edge) {
        case Edge::star:
          up.star = kNone;
          break;
        case Edge::hash:
          up.hash = kNone;
          break;
        case Edge::literal:
          edges_.erase(edges_.find(EdgeProbe{parent, node.word, hash_word(node.word)}));
          --up.literal_children;
          break;
        case Edge::root:
          return;
      }
      node = Node{};       // releases the word and ids storage
      free_.push_back(n);  // capacity >= nodes_.size() (reserve_node): does not allocate
      n = parent;
    }
  }

  std::vector<Node> nodes_;
  std::unordered_map<EdgeKey, std::uint32_t, EdgeHash, EdgeEqual> edges_;
  std::vector<std::uint32_t> free_;
  std::size_t size_ = 0;
};

}  // namespace switchyard::detail
