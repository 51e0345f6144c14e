#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "durable/unsettled_seqs.hpp"

using switchyard::detail::UnsettledSeqs;

namespace {

std::map<std::uint64_t, std::uint32_t> contents(const UnsettledSeqs& s) {
  std::map<std::uint64_t, std::uint32_t> out;
  s.each([&](std::uint64_t seq, std::uint32_t attempts) {
    out.emplace(seq, attempts);
    return true;
  });
  return out;
}

}  // namespace

TEST_CASE("unsettled seqs behave as the ordered map they replace, under random traffic") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u, 4u));
  UnsettledSeqs seqs;
  std::map<std::uint64_t, std::uint32_t> model;
  std::uint64_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto roll = rng() % 100;
    if (roll < 45) {  // a first delivery: the next seq at the back
      seqs.set(next, 1);
      model[next] = 1;
      ++next;
    } else if (roll < 80 && !model.empty()) {  // an ack near the front
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % std::min<std::size_t>(model.size(), 4)));
      seqs.erase(it->first);
      model.erase(it);
    } else if (roll < 90 && next > 0) {  // an ack of anything, live or not
      const std::uint64_t seq = rng() % next;
      seqs.erase(seq);
      model.erase(seq);
    } else if (roll < 97 && next > 0) {  // a redelivery of anything (a snapshot's live record)
      const std::uint64_t seq = rng() % next;
      const auto attempts = static_cast<std::uint32_t>(rng() % 5 + 1);
      seqs.set(seq, attempts);
      model[seq] = attempts;
    } else if (roll < 99 && next > 0) {
      const std::uint64_t seq = rng() % next;
      seqs.erase_below(seq);
      model.erase(model.begin(), model.lower_bound(seq));
    } else if (next > 0) {
      const std::uint64_t seq = rng() % next;
      seqs.erase_from(seq);
      model.erase(model.lower_bound(seq), model.end());
    }
    REQUIRE(seqs.size() == model.size());
    REQUIRE(seqs.empty() == model.empty());
    if (!model.empty()) REQUIRE(seqs.front_seq() == model.begin()->first);
    if (step % 97 == 0) REQUIRE(contents(seqs) == model);
    if (next > 0) {
      const std::uint64_t probe = rng() % next;
      const std::uint32_t* found = seqs.find(probe);
      const auto it = model.find(probe);
      REQUIRE((found != nullptr) == (it != model.end()));
      if (found != nullptr) REQUIRE(*found == it->second);
    }
  }
  CHECK(contents(seqs) == model);
}

TEST_CASE("a stuck seq at the front does not make the set hold every settled seq behind it") {
  UnsettledSeqs seqs;
  seqs.set(0, 1);  // never acked
  std::size_t most = 0;
  for (std::uint64_t seq = 1; seq < 100000; ++seq) {
    seqs.set(seq, 1);
    if (seq >= 2) seqs.erase(seq - 1);  // acked once the next one came: dead in the middle
    most = std::max(most, seqs.entries());
  }
  // Live: 0 and 99999.
  CHECK(seqs.size() == 2);
  CHECK(most <= 2 * 2 + 65);
  CHECK(seqs.front_seq() == 0);
  CHECK(seqs.find(99999) != nullptr);
  std::size_t visited = 0;
  seqs.each([&](std::uint64_t, std::uint32_t) { return ++visited, true; });
  CHECK(visited == 2);
}
