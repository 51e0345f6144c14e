// kill -9 loop through the public API: a child process opens a Broker on a data directory,
// sends to and consumes from a durable queue with acks, and reports each step to the parent
// over a pipe (announcing it before the call, confirming it after the call returned). The
// parent kills the child at a random moment, opens the same directory itself (taking over the
// dead child's lock), and checks against the reports:
//   * every message whose send returned and whose ack was not even announced is delivered;
//   * no message whose ack returned comes back;
//   * nothing comes back that was never sent;
//   * no dedup id is accepted twice across kills: every send carries one, and the parent's
//     retry of each send that returned in the killed run — acked since or not — is a
//     duplicate told the first message id (SQS: an id already sent within the 5-minute
//     deduplication interval is accepted but not delivered; the interval outlives a crash).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "support/crash_child.hpp"
#include "support/figures.hpp"
#include "support/test_support.hpp"

using namespace switchyard;
using namespace switchyard::test;

namespace {

// A kill costs ~150 ms (~700 ms under a sanitizer): most of it is opening the broker twice, in
// the child and in the parent, each time scanning the queue's 64 MiB segment to its end and
// reading back every record sent within the dedup window — here every record of the test
// (without dedup ids a kill costs ~25 ms).
#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kKills = 30;
#else
constexpr int kKills = 200;
#endif

struct Report {
  enum Kind : std::uint8_t { ready, will_send, sent, will_ack, acked } kind;
  std::uint64_t id;
  MessageId message_id = 0;  ///< sent: what the send returned
};

const QueueOptions kJobs{.visibility_timeout = std::chrono::seconds(0),
                         .durability = Durability::none};

std::string payload_of(std::uint64_t id) {
  return "job-" + std::to_string(id);
}

std::string dedup_id_of(std::uint64_t id) {
  return "dedup-" + std::to_string(id);
}

std::uint64_t id_of(const Delivery& d) {
  return std::stoull(std::string(d.payload().as_string().substr(4)));
}

[[noreturn]] void child_main(const std::filesystem::path& dir, int run, int out) {
  auto report = [out](Report r) {
    if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) ::_exit(3);
  };
  try {
    Broker broker({.data_dir = dir});
    broker.declare_queue("jobs", kJobs);
    auto producer = broker.producer();
    auto consumer = broker.consumer("jobs");
    report({Report::ready, 0});
    std::mt19937_64 rng(static_cast<std::uint64_t>(run) * 7919 + 1);
    std::uint64_t next = static_cast<std::uint64_t>(run) << 32;
    for (;;) {
      if (rng() % 2 == 0) {
        const std::uint64_t id = next++;
        report({Report::will_send, id});
        auto sent = producer.send("jobs", payload_of(id), {.dedup_id = dedup_id_of(id)});
        if (!sent) ::_exit(5);
        report({Report::sent, id, *sent});
      } else if (auto d = consumer.receive()) {
        const std::uint64_t id = id_of(*d);
        report({Report::will_ack, id});
        if (!d->ack()) ::_exit(6);
        report({Report::acked, id});
      }
    }
  } catch (...) {
    ::_exit(4);
  }
}

}  // namespace

TEST_CASE("kill -9 of a broker never loses an accepted message nor brings back an acked one") {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "switchyard-crash-XXXXXX").string();
  const std::filesystem::path dir = ::mkdtemp(pattern.data());
  std::mt19937_64 rng(4242);
  std::set<std::uint64_t> must;       // sent, ack not announced: must come back
  std::set<std::uint64_t> may;        // ack announced but not confirmed, or send announced
  std::set<std::uint64_t> acked_ids;  // acked: must never come back
  std::uint64_t accepted = 0, acked = 0, recovered = 0, lost = 0, ghosts = 0, resurrected = 0;
  std::uint64_t retried = 0, accepted_twice = 0;
  const auto started = std::chrono::steady_clock::now();

  for (int run = 0; run < kKills; ++run) {
    CrashChild<Report> child([&](int out) { child_main(dir, run, out); });
    auto is_ready = [&] {
      return !child.reports().empty() && child.reports().front().kind == Report::ready;
    };
    // Wait (bounded) for the child to have opened the broker; then kill it after a random
    // number of its steps (not a random time: a child under a sanitizer is ten times slower).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!is_ready() && std::chrono::steady_clock::now() < give_up) child.drain(10);
    REQUIRE(is_ready());
    const std::size_t kill_after = 1 + rng() % 400;
    const auto latest = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (child.reports().size() < kill_after && std::chrono::steady_clock::now() < latest) {
      child.drain(1);
    }
    const bool killed = child.kill_and_reap();
    INFO("run " << run << ": child status " << child.status());
    REQUIRE(killed);  // an exit code is a child-side failure (see child_main)
    const std::vector<Report>& reports = child.reports();
    std::vector<std::pair<std::uint64_t, MessageId>> sent_this_run;

    for (const Report& r : reports) {
      switch (r.kind) {
        case Report::ready:
          break;
        case Report::will_send:
          may.insert(r.id);
          break;
        case Report::sent:
          may.erase(r.id);
          must.insert(r.id);
          sent_this_run.emplace_back(r.id, r.message_id);
          ++accepted;
          break;
        case Report::will_ack:
          must.erase(r.id);
          may.insert(r.id);
          break;
        case Report::acked:
          may.erase(r.id);
          acked_ids.insert(r.id);
          ++acked;
          break;
      }
    }

    // Open the directory as the next owner would and read everything that is there.
    std::set<std::uint64_t> found;
    {
      Broker broker({.data_dir = dir});
      REQUIRE(broker.contains("jobs"));
      // Retry every send that returned: each must be a duplicate of the first, enqueuing
      // nothing (a message acked since included: its id outlives it for the window).
      {
        auto queue = broker.queue("jobs");
        const auto depth = queue.depth();
        auto producer = broker.producer();
        for (const auto& [id, first] : sent_this_run) {
          auto again = producer.send("jobs", payload_of(id), {.dedup_id = dedup_id_of(id)});
          REQUIRE(again);
          ++retried;
          accepted_twice += *again != first;
        }
        CHECK(queue.stats().deduplicated == sent_this_run.size());
        CHECK(queue.depth() == depth);
        REQUIRE(accepted_twice == 0);
      }
      auto consumer = broker.consumer("jobs", {.prefetch = 1u << 16});
      auto batch = consumer.receive(1u << 16, std::chrono::seconds(0));
      if (batch) {
        for (const auto& d : *batch) found.insert(id_of(d));
      }
      // Closing the consumer returns them all; the next child sees them again.
    }
    recovered += found.size();
    for (std::uint64_t id : must) lost += !found.contains(id);
    for (std::uint64_t id : found) {
      resurrected += acked_ids.contains(id);
      ghosts += !must.contains(id) && !may.contains(id);
    }
    REQUIRE(lost == 0);
    REQUIRE(resurrected == 0);
    REQUIRE(ghosts == 0);
    // What is there now is the truth the next run starts from.
    must = found;
    may.clear();
  }
  const double seconds = seconds_since(started);
  print_figures("durable_queue_crash", {{"kills", kKills},
                                        {"accepted", accepted},
                                        {"recovered", recovered},
                                        {"acked", acked},
                                        {"lost", lost},
                                        {"resurrected", resurrected},
                                        {"ghosts", ghosts},
                                        {"dedup_retried", retried},
                                        {"dedup_accepted_twice", accepted_twice},
                                        {"msgs_per_s", static_cast<double>(accepted) / seconds},
                                        {"seconds", seconds}});
  CHECK(accepted > 0);
  CHECK(acked > 0);
  CHECK(retried > 0);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
