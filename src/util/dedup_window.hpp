// src/util/dedup_window.hpp — the deduplication ids a destination has seen recently: SQS FIFO's
// MessageDeduplicationId ("a message with an id already sent within the 5-minute window is
// accepted but not delivered again"), the one mechanism of queues and topics alike.
//
// Data structures: `seen_`, id -> (end of its window, what the first send was told), and
// `order_`, (end of window, id) in the order ids were first seen. Windows are one length per
// destination, so `order_` is sorted by end as well: forgetting the expired ids pops its front.
// An id re-seen after its window ended starts a new window; its stale `order_` entry is skipped
// (its end no longer matches).
//
// Not thread-safe: the owner holds its lock around every call (QueueState: slow_.mutex;
// TopicState: dedup_mutex_). Memory: one string and one node per id seen within the window.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "util/string_hash.hpp"

namespace switchyard::detail {

template <class Value>
class DedupWindow {
 public:
  /// Forgets the ids whose window ended at or before `now_ns`, then remembers `id` with `value`
  /// until `until_ns` unless it is remembered already. Returns the value the id is remembered
  /// with and whether it was new (false: a duplicate — its first value is returned). Throws
  /// std::bad_alloc (nothing is remembered then).
  std::pair<Value*, bool> remember(std::string_view id, const Value& value, std::int64_t now_ns,
                                   std::int64_t until_ns) {
    forget_until(now_ns);
    auto found = seen_.find(id);
    if (found != seen_.end()) return {&found->second.second, false};
    auto [it, inserted] = seen_.try_emplace(std::string(id), until_ns, value);
    try {
      order_.emplace_back(until_ns, it->first);
    } catch (...) {
      seen_.erase(it);
      throw;
    }
    return {&it->second.second, inserted};
  }
  /// Forgets `id` (a send that was not accepted after all: its retry must get in).
  void forget(std::string_view id) noexcept {
    if (auto it = seen_.find(id); it != seen_.end()) seen_.erase(it);
  }
  /// Ids remembered now (expired ones included until the next `remember`).
  [[nodiscard]] std::size_t size() const noexcept { return seen_.size(); }

 private:
  void forget_until(std::int64_t now_ns) noexcept {
    while (!order_.empty() && order_.front().first <= now_ns) {
      auto it = seen_.find(order_.front().second);
      if (it != seen_.end() && it->second.first <= now_ns) seen_.erase(it);
      order_.pop_front();
    }
  }

  std::unordered_map<std::string, std::pair<std::int64_t, Value>, StringHash, std::equal_to<>>
      seen_;
  std::deque<std::pair<std::int64_t, std::string>> order_;
};

}  // namespace switchyard::detail
