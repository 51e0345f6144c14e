// src/match/assignor.hpp — which member of a consumer group owns which partition: the sticky
// assignment, as a pure function (GroupState calls it under its mutex at every join and leave).
//
// Members are numbered 0..members-1 in join order; an assignment is one entry per partition,
// the owning member's number or kUnassigned. The rule:
//   * Fair shares: member i may own partitions/members partitions, one more for the first
//     partitions % members members — shares differ by at most one, earlier joiners get the
//     larger ones.
//   * Sticky: a partition stays with its previous owner while that owner is still a member and
//     within its share (partitions are kept in ascending order, so a member above its share
//     keeps its lowest-numbered ones).
//   * The rest (unowned, owner gone, or over its share) go in ascending order to the members
//     below their share, the earliest joiner first.
// With no members every partition is kUnassigned. Deterministic: the same inputs give the same
// assignment. Allocates the result (may throw std::bad_alloc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace switchyard::detail {

/// A partition that no member owns.
inline constexpr std::size_t kUnassigned = SIZE_MAX;

/// The sticky assignment of `previous.size()` partitions to `members` members, given the
/// previous owner of each partition (a member number, or kUnassigned — also for a number that
/// is no longer below `members`). @note threadsafe (pure)
[[nodiscard]] inline std::vector<std::size_t> assign_sticky(std::size_t members,
                                                            std::span<const std::size_t> previous) {
  const std::size_t partitions = previous.size();
  std::vector<std::size_t> next(partitions, kUnassigned);
  if (members == 0) return next;
  std::vector<std::size_t> quota(members), count(members, 0);
  for (std::size_t i = 0; i < members; ++i) {
    quota[i] = partitions / members + (i < partitions % members ? 1 : 0);
  }
  for (std::size_t p = 0; p < partitions; ++p) {
    const std::size_t owner = previous[p];
    if (owner < members && count[owner] < quota[owner]) {
      next[p] = owner;
      ++count[owner];
    }
  }
  std::size_t cursor = 0;
  for (std::size_t p = 0; p < partitions; ++p) {
    if (next[p] != kUnassigned) continue;
    while (count[cursor] >= quota[cursor]) ++cursor;
    next[p] = cursor;
    ++count[cursor];
  }
  return next;
}

}  // namespace switchyard::detail
