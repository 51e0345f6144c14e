// kill -9 loop over transactions: a child process runs consume-transform-produce — it takes job
// k from durable queue "in" and record k from durable topic "src", and in one transaction sends
// k to durable queue "out" and to durable topic "sink", acks job k and commits the group's
// offset k + 1 — reporting each commit to the parent before the call and after it returned.
// The parent kills the child at a random moment, opens the directory itself, and checks that
// every transaction took effect whole or not at all:
//   with c the group's committed offset, "out" holds exactly 0 .. c-1, "sink" exactly
//   0 .. c-1 in order, "in" exactly c .. N-1; and c covers every commit that returned
//   (nothing acknowledged is lost) and no commit that was never announced.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "support/crash_child.hpp"
#include "support/figures.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;
using namespace std::chrono_literals;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kKills = 15;
#else
constexpr int kKills = 60;
#endif
constexpr std::uint64_t kJobs = 4000;

struct Report {
  enum Kind : std::uint8_t { ready, will_commit, committed } kind;
  std::uint64_t k;
};

// Killed, not closed: `none` survives a kill -9 (the page cache), and keeps each run fast.
const QueueOptions kQueue{.durability = Durability::none};
const TopicOptions kTopic{.durability = Durability::none};

void declare(Broker& broker) {
  broker.declare_queue("in", kQueue);
  broker.declare_queue("out", kQueue);
  broker.declare_topic("src", kTopic);
  broker.declare_topic("sink", kTopic);
}

std::uint64_t number(std::string_view s) {
  return std::stoull(std::string(s));
}

[[noreturn]] void child_main(const std::filesystem::path& dir, int out) {
  auto report = [out](Report r) {
    if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) ::_exit(3);
  };
  try {
    Broker broker({.data_dir = dir});
    declare(broker);
    auto consumer = broker.consumer("in");
    auto member = broker.group_consumer("src", "g", {.start = Start::earliest});
    report({Report::ready, 0});
    for (;;) {
      auto record = member.poll(1, 1s);
      if (!record) ::_exit(5);
      if (record->size() == 0) ::_exit(0);  // all done: the parent sees a clean exit
      auto job = consumer.receive(1s);
      if (!job) ::_exit(6);
      const std::uint64_t k = number(job->payload().as_string());
      if (number(record->records()[0].payload().as_string()) != k) ::_exit(7);
      const std::string text = std::to_string(k);
      auto tx = broker.begin();
      if (!tx.send("out", text) || !tx.send("sink", text) || !tx.ack(*job) ||
          !tx.commit_offset(member, 0, k + 1)) {
        ::_exit(8);
      }
      report({Report::will_commit, k});
      if (!tx.commit()) ::_exit(9);
      report({Report::committed, k});
    }
  } catch (...) {
    ::_exit(4);
  }
}

/// Every message of `queue`, received and left unsettled (they return when the consumer closes).
void read_all(Broker& broker, std::string_view queue, std::vector<std::uint64_t>& into) {
  auto consumer = broker.consumer(queue, {.prefetch = 1u << 16});
  std::vector<Delivery> held;
  for (;;) {
    auto batch = consumer.receive(1024, 0s);
    if (!batch || batch->empty()) break;
    for (Delivery& d : *batch) {
      into.push_back(number(d.payload().as_string()));
      held.push_back(std::move(d));
    }
  }
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t k = from; k < to; ++k) out.push_back(k);
  return out;
}

}  // namespace

TEST_CASE("kill -9 during commit leaves every transaction whole or absent after restart") {
  ScratchDir dir;
  {
    Broker broker({.data_dir = dir.path()});
    declare(broker);
    auto producer = broker.producer();
    for (std::uint64_t k = 0; k < kJobs; ++k) {
      REQUIRE(producer.send("in", std::to_string(k)));
      REQUIRE(producer.send("src", std::to_string(k)));
    }
  }
  std::mt19937_64 rng(1515);
  std::uint64_t confirmed = 0;  // every commit below this returned
  std::uint64_t committed = 0, kills = 0, torn = 0, whole = 0;
  const auto started = std::chrono::steady_clock::now();

  for (int run = 0; run < kKills && committed < kJobs; ++run) {
    CrashChild<Report> child([&](int out) { child_main(dir.path(), out); });
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    auto is_ready = [&] {
      return !child.reports().empty() && child.reports().front().kind == Report::ready;
    };
    while (!is_ready() && std::chrono::steady_clock::now() < give_up) child.drain(10);
    REQUIRE(is_ready());
    // Kill after a random number of reports (steps, not time: a sanitizer is ten times slower).
    const std::size_t kill_after = 1 + rng() % 120;
    const auto latest = std::chrono::steady_clock::now() + 5s;
    while (child.reports().size() < kill_after && std::chrono::steady_clock::now() < latest) {
      child.drain(1);
    }
    const bool killed = child.kill_and_reap();
    INFO("run " << run << ": child status " << child.status());
    REQUIRE(killed);
    ++kills;
    std::uint64_t announced = confirmed;  // the highest commit that may have happened, + 1
    for (const Report& r : child.reports()) {
      if (r.kind == Report::will_commit) announced = r.k + 1;
      if (r.kind == Report::committed) confirmed = r.k + 1;
    }
    torn += announced != confirmed;  // killed between announcing and returning a commit

    Broker broker({.data_dir = dir.path()});
    auto reader = broker.group_consumer("src", "g", {.start = Start::earliest});
    const std::uint64_t c = reader.committed(0).value();
    reader.close();
    INFO("committed offset " << c << ", confirmed " << confirmed << ", announced " << announced);
    REQUIRE(c >= confirmed);  // a commit that returned is never lost
    REQUIRE(c <= announced);  // nothing committed that was never asked for

    std::vector<std::uint64_t> out, sink, in;
    read_all(broker, "out", out);
    read_all(broker, "in", in);
    {
      auto member =
          broker.group_consumer("sink", "check-" + std::to_string(run), {.start = Start::earliest});
      for (;;) {
        auto batch = member.poll(4096, 0s);
        REQUIRE(batch);
        if (batch->size() == 0) break;
        for (const Record& r : *batch) sink.push_back(number(r.payload().as_string()));
      }
    }
    INFO("out " << out.size() << " (first " << (out.empty() ? -1 : (long)out.front()) << "), sink "
                << sink.size() << ", in " << in.size() << " (first "
                << (in.empty() ? -1 : (long)in.front()) << ")");
    REQUIRE((out == range(0, c) && sink == range(0, c) && in == range(c, kJobs)));
    whole += announced != confirmed && c == announced;
    committed = confirmed = c;  // what is there now is what the next child starts from
  }
  const double seconds = seconds_since(started);
  print_figures("transaction_crash", {{"kills", kills},
                                      {"transactions", committed},
                                      {"killed_mid_commit", torn},
                                      {"mid_commit_applied_whole", whole},
                                      {"lost", 0},
                                      {"tx_per_s", static_cast<double>(committed) / seconds},
                                      {"seconds", seconds}});
  CHECK(committed > 0);
  CHECK(torn > 0);  // the loop did kill inside commits
}
