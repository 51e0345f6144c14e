// src/durable/unsettled_seqs.hpp — the unsettled seqs of a queue journal with their attempt
// counts (QueueJournal's `pending_`), kept so the common case costs no allocation and no tree.
//
// The journal's traffic is almost all at the two ends: a first delivery adds the next seq at the
// back (seqs only grow), an ack removes one near the front. A std::map paid a node allocation, a
// free and a rebalancing for each message. This is a deque of (seq, attempts) in seq order;
// removing marks the entry dead, dead entries are dropped from both ends at once, and when the
// dead outnumber the live (a stuck message at the front, acks behind it) the deque is rewritten
// without them. So:
//   * memory: O(live) amortised (at most twice the live entries plus one deque block), as the
//     map's — a stuck message does not make the journal hold every seq after it;
//   * add at the back, remove at the front: O(1) amortised, no allocation but the deque's
//     blocks (one per 32 entries); find and remove elsewhere: O(log n) (binary search);
//   * an insert in the middle (only a snapshot replayed out of order, which compaction never
//     writes) is O(n).
// Not threadsafe: the journal's mutex guards it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>

namespace switchyard::detail {

class UnsettledSeqs {
 public:
  struct Entry {
    std::uint64_t seq = 0;
    std::uint32_t attempts = 0;
    bool live = true;
  };

  [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return live_; }
  /// Entries held, the dead ones between live ones included (what the memory is).
  [[nodiscard]] std::size_t entries() const noexcept { return entries_.size(); }
  /// The lowest live seq. Precondition: not empty.
  [[nodiscard]] std::uint64_t front_seq() const noexcept { return entries_.front().seq; }

  /// The attempts of live `seq`, or null.
  [[nodiscard]] std::uint32_t* find(std::uint64_t seq) noexcept {
    auto it = lower_bound(seq);
    return it != entries_.end() && it->seq == seq && it->live ? &it->attempts : nullptr;
  }
  [[nodiscard]] const std::uint32_t* find(std::uint64_t seq) const noexcept {
    return const_cast<UnsettledSeqs*>(this)->find(seq);
  }

  /// Makes `seq` live with `attempts` (replacing its count if live already).
  void set(std::uint64_t seq, std::uint32_t attempts) {
    if (entries_.empty() || entries_.back().seq < seq) {
      entries_.push_back({seq, attempts, true});
      ++live_;
      return;
    }
    auto it = lower_bound(seq);
    if (it != entries_.end() && it->seq == seq) {
      if (!it->live) ++live_;
      *it = {seq, attempts, true};
      return;
    }
    entries_.insert(it, Entry{seq, attempts, true});
    ++live_;
  }

  /// Forgets `seq` (nothing if not live).
  void erase(std::uint64_t seq) noexcept {
    auto it = lower_bound(seq);
    if (it == entries_.end() || it->seq != seq || !it->live) return;
    it->live = false;
    --live_;
    trim();
  }
  /// Forgets every seq below `seq`.
  void erase_below(std::uint64_t seq) noexcept {
    auto it = lower_bound(seq);
    live_ -= static_cast<std::size_t>(
        std::count_if(entries_.begin(), it, [](const Entry& e) { return e.live; }));
    entries_.erase(entries_.begin(), it);
    trim();
  }
  /// Forgets every seq at or above `seq`.
  void erase_from(std::uint64_t seq) noexcept {
    auto it = lower_bound(seq);
    live_ -= static_cast<std::size_t>(
        std::count_if(it, entries_.end(), [](const Entry& e) { return e.live; }));
    entries_.erase(it, entries_.end());
    trim();
  }
  void clear() noexcept {
    entries_.clear();
    live_ = 0;
  }

  /// Calls `f(seq, attempts)` for each live seq, in seq order; stops at the first false.
  template <typename F>
  bool each(F&& f) const {
    for (const Entry& e : entries_) {
      if (e.live && !f(e.seq, e.attempts)) return false;
    }
    return true;
  }

 private:
  std::deque<Entry>::iterator lower_bound(std::uint64_t seq) noexcept {
    // The common cases first: an ack of the oldest, a delivery of the newest.
    if (entries_.empty() || seq <= entries_.front().seq) return entries_.begin();
    if (seq == entries_.back().seq) return std::prev(entries_.end());
    if (seq > entries_.back().seq) return entries_.end();
    return std::lower_bound(entries_.begin(), entries_.end(), seq,
                            [](const Entry& e, std::uint64_t s) { return e.seq < s; });
  }
  // Drops dead entries at both ends; rewrites the deque once the dead outnumber the live.
  void trim() noexcept {
    while (!entries_.empty() && !entries_.front().live) entries_.pop_front();
    while (!entries_.empty() && !entries_.back().live) entries_.pop_back();
    if (entries_.size() > 64 && entries_.size() - live_ > live_) {
      // Stable and in place: no allocation, so no failure.
      entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                    [](const Entry& e) { return !e.live; }),
                     entries_.end());
    }
  }

  std::deque<Entry> entries_;  // seq order; the ends are live (trim)
  std::size_t live_ = 0;
};

}  // namespace switchyard::detail
