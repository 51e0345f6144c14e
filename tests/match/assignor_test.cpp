#include "match/assignor.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <random>
#include <vector>

using switchyard::detail::assign_sticky;
using switchyard::detail::kUnassigned;

namespace {

using Assignment = std::vector<std::size_t>;

/// How many partitions each of `members` members owns in `a`.
std::vector<std::size_t> shares(const Assignment& a, std::size_t members) {
  std::vector<std::size_t> count(members, 0);
  for (std::size_t owner : a) {
    if (owner != kUnassigned) ++count.at(owner);
  }
  return count;
}

/// Partitions whose owner differs between `a` and `b`.
std::size_t moved(const Assignment& a, const Assignment& b) {
  std::size_t n = 0;
  for (std::size_t p = 0; p < a.size(); ++p) n += a[p] != b[p] ? 1 : 0;
  return n;
}

/// What `previous` becomes when member `gone` leaves: its partitions unowned, the later
/// members renumbered one down (members are numbered in join order).
Assignment without_member(Assignment previous, std::size_t gone) {
  for (std::size_t& owner : previous) {
    if (owner == gone) {
      owner = kUnassigned;
    } else if (owner != kUnassigned && owner > gone) {
      --owner;
    }
  }
  return previous;
}

}  // namespace

TEST_CASE("a first assignment gives every partition to a member, in fair shares by join order") {
  const Assignment a = assign_sticky(3, Assignment(10, kUnassigned));
  CHECK(std::count(a.begin(), a.end(), kUnassigned) == 0);
  // 10 over 3: the first joiner gets the extra one.
  CHECK(shares(a, 3) == std::vector<std::size_t>{4, 3, 3});
  CHECK(a == Assignment{0, 0, 0, 0, 1, 1, 1, 2, 2, 2});
}

TEST_CASE("shares differ by at most one partition for any member and partition count") {
  for (std::size_t members = 1; members <= 9; ++members) {
    for (std::size_t partitions = 0; partitions <= 20; ++partitions) {
      const auto count =
          shares(assign_sticky(members, Assignment(partitions, kUnassigned)), members);
      const auto [low, high] = std::minmax_element(count.begin(), count.end());
      INFO(members << " members, " << partitions << " partitions");
      CHECK(*high - *low <= 1);
      std::size_t total = 0;
      for (std::size_t c : count) total += c;
      CHECK(total == partitions);
    }
  }
}

TEST_CASE("a member that joins takes partitions only from members above their new share") {
  const Assignment two = assign_sticky(2, Assignment(6, kUnassigned));
  REQUIRE(two == Assignment{0, 0, 0, 1, 1, 1});
  const Assignment three = assign_sticky(3, two);
  CHECK(shares(three, 3) == std::vector<std::size_t>{2, 2, 2});
  // Each old member gives up exactly one partition, its highest, to the newcomer.
  CHECK(three == Assignment{0, 0, 2, 1, 1, 2});
  CHECK(moved(two, three) == 2);
}

TEST_CASE("an unchanged group keeps its assignment exactly (stickiness)") {
  const Assignment first = assign_sticky(4, Assignment(13, kUnassigned));
  CHECK(assign_sticky(4, first) == first);
  // Also a scrambled but fair previous assignment: nothing moves.
  const Assignment scrambled{3, 1, 0, 2, 0, 1, 3, 2, 0, 1, 2, 3, 0};
  CHECK(assign_sticky(4, scrambled) == scrambled);
}

TEST_CASE("a member leaving hands only its own partitions to the others") {
  const Assignment three = assign_sticky(3, Assignment(9, kUnassigned));
  REQUIRE(three == Assignment{0, 0, 0, 1, 1, 1, 2, 2, 2});
  // Member 1 leaves: member 2 becomes member 1.
  const Assignment previous = without_member(three, 1);
  const Assignment two = assign_sticky(2, previous);
  CHECK(shares(two, 2) == std::vector<std::size_t>{5, 4});
  for (std::size_t p = 0; p < previous.size(); ++p) {
    if (previous[p] != kUnassigned) CHECK(two[p] == previous[p]);
  }
  CHECK(moved(previous, two) == 3);  // only the leaver's three partitions
}

TEST_CASE("with more members than partitions the latest joiners own nothing") {
  const Assignment a = assign_sticky(5, Assignment(3, kUnassigned));
  CHECK(a == Assignment{0, 1, 2});
  CHECK(shares(a, 5) == std::vector<std::size_t>{1, 1, 1, 0, 0});
  // Shares go by join order: a late joiner's share is none, so it gives up what it owned to
  // the earlier joiners, even those that owned nothing.
  CHECK(assign_sticky(5, Assignment{4, 3, kUnassigned}) == Assignment{0, 1, 2});
}

TEST_CASE("a group with no members owns no partition") {
  CHECK(assign_sticky(0, Assignment{0, 1, kUnassigned}) == Assignment(3, kUnassigned));
}

TEST_CASE("a previous owner number beyond the members counts as unowned") {
  CHECK(assign_sticky(2, Assignment{7, 7, 0, 1}) == Assignment{0, 1, 0, 1});
}

TEST_CASE("random joins and leaves keep shares fair and move only what fairness needs") {
  std::mt19937 rng(11);
  for (int run = 0; run < 200; ++run) {
    const std::size_t partitions = rng() % 17;
    std::size_t members = 1 + rng() % 6;
    Assignment a = assign_sticky(members, Assignment(partitions, kUnassigned));
    for (int step = 0; step < 20; ++step) {
      Assignment previous = a;
      if (members > 1 && rng() % 2 == 0) {
        previous = without_member(previous, rng() % members);
        --members;
      } else {
        ++members;
      }
      a = assign_sticky(members, previous);
      const auto count = shares(a, members);
      const auto [low, high] = std::minmax_element(count.begin(), count.end());
      REQUIRE(*high - *low <= 1);
      REQUIRE(std::count(a.begin(), a.end(), kUnassigned) == 0);
      // A partition moves only if it was unowned or its owner kept its whole share.
      std::vector<std::size_t> kept(members, 0);
      for (std::size_t p = 0; p < partitions; ++p) {
        if (previous[p] != kUnassigned && a[p] == previous[p]) ++kept[previous[p]];
      }
      for (std::size_t p = 0; p < partitions; ++p) {
        if (previous[p] != kUnassigned && a[p] != previous[p]) {
          const std::size_t o = previous[p];
          REQUIRE(kept[o] == partitions / members + (o < partitions % members ? 1 : 0));
        }
      }
    }
  }
}
