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
//
// Durable destinations (issue 15: SQS keeps the ids server-side for the whole window, so a
// producer retrying across a restart must not get a duplicate)
// ---------------------------------------------------------------------------------------
//   What is written when: a send with a dedup id to a durable queue or topic stores the id and
//   the end of its window *in the message's own record* (stored message body version 3,
//   durable/stored_message.hpp; the end as a wall-clock time, like the record's deadlines).
//   One write, so the id is exactly as durable as its message (the rule: if the message
//   survives a crash, so does its id; an id lost with its message is harmless, a retry of a
//   lost message gets in). No new file, no second log to order against the first.
//   Recovery: `collect_stored_dedup` (stored_message.hpp) reads a log's records from an offset
//   and returns the ids whose window has not ended by the broker clock's wall time now; the
//   owner `restore`s them (window ends moved back onto the monotonic clock) before any send.
//     * Queue (QueueJournal): acked messages leave the journal when the segments below the
//       settled floor are deleted, so the journal holds back that deletion for segments that
//       still hold an id in its window (`dedup_holds_`: seq -> id, message id, window end),
//       rebuilt at open by reading the records stamped within the last window, settled ones
//       included — the id of a message consumed and acked before the restart is still known
//       after it (`recover_dedup`).
//     * Topic (DurablePartitionLog): records stay until retention; the scan starts at the first
//       record stamped within the last window (`offset_for_timestamp`). A record deleted by
//       retention or compaction within its window takes its id with it (documented).
//   Threading: recovery runs at open, before the destination is published to senders; the
//   owner's lock is taken anyway (the annotations say so, and it costs nothing then).
//   Cost: a queue's open reads (without copying payloads) every record stamped within the last
//   window, settled or not — proportional to one window of traffic, for a queue whose sends
//   carry dedup ids (a crash loop that sends 100k records with ids: ~6x slower opens).
//   Known edge: a durable queue's send whose record was written but whose message could not
//   be placed (out of memory) is refused and its id forgotten now, yet the record (journaled
//   as dropped) still names the id, so after a restart that id counts as seen.
//   Compatibility: records without a dedup id stay version 1 or 2, byte for byte; an existing
//   data directory opens unchanged; an older build refuses a version-3 record as `corrupt`.
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
    if (found != seen_.end()) {
      if (found->second.first > now_ns) return {&found->second.second, false};
      // Ended but not yet forgotten (restored ids need not arrive in end order): a new window.
      order_.emplace_back(until_ns, found->first);
      found->second = {until_ns, value};
      return {&found->second.second, true};
    }
    auto [it, inserted] = seen_.try_emplace(std::string(id), until_ns, value);
    try {
      order_.emplace_back(until_ns, it->first);
    } catch (...) {
      seen_.erase(it);
      throw;
    }
    return {&it->second.second, inserted};
  }
  /// Remembers `id` with `value` until `until_ns` (an id recovered from storage), replacing
  /// what it was remembered with: restore in the order the ids were first sent, so a later
  /// window of the same id wins. Throws std::bad_alloc.
  void restore(std::string_view id, const Value& value, std::int64_t until_ns) {
    auto [it, inserted] = seen_.try_emplace(std::string(id), until_ns, value);
    try {
      order_.emplace_back(until_ns, it->first);
    } catch (...) {
      if (inserted) seen_.erase(it);
      throw;
    }
    if (!inserted) it->second = {until_ns, value};
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
