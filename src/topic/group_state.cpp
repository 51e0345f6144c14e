// A consumer group's shared state: members, the sticky assignment, committed offsets.
// Design: topic_state.hpp.
#include <algorithm>

#include "match/assignor.hpp"
#include "topic/topic_state.hpp"
#include "util/time.hpp"

namespace switchyard::detail {

namespace {
/// Where a group that never committed `log` starts reading it.
std::uint64_t start_position(const PartitionLog& log, const GroupConsumerOptions& start) {
  switch (start.start) {
    case Start::earliest:
      return log.start_offset();
    case Start::latest:
      return log.end_offset();
    case Start::offset:
      return std::min(start.offset, log.end_offset());
    case Start::timestamp:
      return log.offset_for_time(start.time);
  }
  return log.end_offset();
}
}  // namespace

GroupState::GroupState(TopicState& topic, std::string name, const GroupConsumerOptions* start)
    : topic_(topic),
      name_(std::move(name)),
      partitions_(topic.partitions()),
      owner_(partitions_, nullptr),
      owner_epoch_(partitions_, 0),
      committed_(new std::atomic<std::uint64_t>[partitions_]),
      missed_(new std::atomic<std::uint64_t>[partitions_]),
      unplaced_(partitions_, false) {
  const std::int64_t now = ns(topic.clock()->now());
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    PartitionLog& log = topic.log(p);
    log.expire(now);
    std::uint64_t at = 0;
    const auto stored = topic.stored_offset(name_, p);
    // A durable group resumes where it committed; `start` is for partitions it never did.
    if (stored) {
      at = std::min(*stored, log.end_offset());
    } else if (start != nullptr) {
      at = start_position(log, *start);
    } else {
      at = log.start_offset();  // shown in stats until resolve_start places it
      unplaced_[p] = true;
      any_unplaced_.store(true, std::memory_order_relaxed);  // published with the group
    }
    committed_[p].store(at, std::memory_order_relaxed);
    missed_[p].store(0, std::memory_order_relaxed);
  }
}

void GroupState::resolve_start(const GroupConsumerOptions& start) {
  if (!any_unplaced_.load(std::memory_order_acquire)) return;
  MutexLock lock(mutex_);
  const std::int64_t now = ns(topic_.clock()->now());
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    if (!unplaced_[p]) continue;
    PartitionLog& log = topic_.log(p);
    log.expire(now);
    // Release: pairs with committed()'s acquire, as a commit does.
    committed_[p].store(start_position(log, start), std::memory_order_release);
    unplaced_[p] = false;
  }
  any_unplaced_.store(false, std::memory_order_release);
}

void GroupState::join(GroupConsumerState* member) {
  {
    MutexLock lock(mutex_);
    members_.push_back(member);
    reassign_locked();
  }
  topic_.appended_event().notify_all();
}

void GroupState::leave(GroupConsumerState* member) noexcept {
  {
    MutexLock lock(mutex_);
    auto it = std::find(members_.begin(), members_.end(), member);
    if (it == members_.end()) return;
    members_.erase(it);
    reassign_locked();
  }
  topic_.appended_event().notify_all();
}

void GroupState::reassign_locked() {
  // The sticky assignment (match/assignor.hpp) over the members' numbers in join order; a
  // member that left is no longer in members_, so its partitions count as unowned.
  std::vector<std::size_t> previous(partitions_, kUnassigned);
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    if (owner_[p] == nullptr) continue;
    auto it = std::find(members_.begin(), members_.end(), owner_[p]);
    if (it != members_.end()) previous[p] = static_cast<std::size_t>(it - members_.begin());
  }
  const std::vector<std::size_t> next = assign_sticky(members_.size(), previous);
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    GroupConsumerState* owner = next[p] == kUnassigned ? nullptr : members_[next[p]];
    if (owner != owner_[p]) {
      owner_[p] = owner;
      owner_epoch_[p] = next_epoch_++;
    }
  }
  // Release: pairs with generation()'s acquire in members (they then lock mutex_ anyway).
  generation_.fetch_add(1, std::memory_order_release);
}

std::uint64_t GroupState::assignment_of(const GroupConsumerState* member, std::vector<Owned>& out) {
  MutexLock lock(mutex_);
  out.clear();
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    if (owner_[p] == member) {
      out.push_back(Owned{p, owner_epoch_[p], committed_[p].load(std::memory_order_relaxed)});
    }
  }
  return generation_.load(std::memory_order_relaxed);
}

Status GroupState::commit(const GroupConsumerState* member, std::span<const CommitEntry> entries,
                          std::vector<std::uint32_t>& lost) noexcept {
  MutexLock lock(mutex_);
  constexpr std::size_t kInline = 16;
  std::pair<std::uint32_t, std::uint64_t> inline_changes[kInline];
  std::vector<std::pair<std::uint32_t, std::uint64_t>> heap_changes;
  std::size_t changed = 0;
  try {
    for (const CommitEntry& e : entries) {
      if (owner_[e.partition] != member || owner_epoch_[e.partition] != e.epoch) {
        lost.push_back(e.partition);
        continue;
      }
      // Unchanged needs no write, unless a durable topic has not stored it yet: every
      // committed position persists, the one a group started at included.
      if (committed_[e.partition].load(std::memory_order_relaxed) == e.offset &&
          (!topic_.durable() || topic_.stored_offset(name_, e.partition) == e.offset)) {
        continue;
      }
      if (changed < kInline) {
        inline_changes[changed] = {e.partition, e.offset};
      } else {
        if (heap_changes.empty()) heap_changes.assign(inline_changes, inline_changes + kInline);
        heap_changes.emplace_back(e.partition, e.offset);
      }
      ++changed;
    }
  } catch (const std::bad_alloc&) {
    return Status(Errc::out_of_memory);
  }
  std::span<const std::pair<std::uint32_t, std::uint64_t>> changes =
      changed <= kInline ? std::span(inline_changes, changed) : std::span(heap_changes);
  if (auto stored = topic_.store_commits(name_, changes); !stored) return stored;
  for (const auto& [partition, offset] : changes) {
    // Release: pairs with committed()'s acquire in stats and lag.
    committed_[partition].store(offset, std::memory_order_release);
  }
  const Hooks& hooks = topic_.hooks();
  if (hooks.intercepting()) [[unlikely]] {
    // Under the lock, so the interceptors see a partition's commits in the order they took.
    for (const auto& change : changes) {  // not a structured binding: clang 14 cannot capture one
      hooks.each("on_commit", [&](Interceptor& i) {
        i.on_commit(topic_.name(), name_, change.first, change.second);
      });
    }
  }
  return {};
}

std::size_t GroupState::member_count() const {
  MutexLock lock(mutex_);
  return members_.size();
}

GroupStats GroupState::stats() const {
  GroupStats s;
  s.name = name_;
  MutexLock lock(mutex_);
  s.members = members_.size();
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    GroupPartitionStats g;
    g.partition = p;
    g.committed = committed_[p].load(std::memory_order_relaxed);
    const std::uint64_t end = topic_.log(p).end_offset();
    g.lag = end > g.committed ? end - g.committed : 0;
    g.missed = missed_[p].load(std::memory_order_relaxed);
    g.assigned = owner_[p] != nullptr;
    s.lag += g.lag;
    s.missed += g.missed;
    s.partitions.push_back(g);
  }
  return s;
}

}  // namespace switchyard::detail
