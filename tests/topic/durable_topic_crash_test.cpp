// kill -9 at the broker level: a child process opens a Broker on a data directory, declares a
// durable topic (Durability::none: a record is safe from a process crash once send returns)
// and produces, announcing each send before it starts and reporting its (partition, offset)
// over a pipe after it returned. The parent kills the child at a random moment, opens a Broker
// on the same directory (taking over the dead child's lock), reads every partition back and
// checks it against the model built from the reports:
//   * every reported record is at its offset with its payload (lost = 0);
//   * each partition is contiguous from its start to its end (no gaps);
//   * a record nobody reported is the one send announced when the kill came (no ghosts);
//   * no dedup id is appended twice across kills: every send carries one, and the parent's
//     retry of each reported send still retained is a duplicate told the first (partition,
//     offset) (SQS: an id already sent within the deduplication interval is accepted but not
//     delivered; the interval outlives a crash).
// Retention (256 KiB segments, 1 MiB per partition) deletes old segments as the runs go on;
// records below a partition's start were removed by retention, not lost, and are counted.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "support/crash_child.hpp"
#include "support/figures.hpp"
#include "support/storage_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using switchyard::test::CrashChild;
using switchyard::test::print_figures;
using switchyard::test::ScratchDir;
using switchyard::test::seconds_since;

namespace {

// A kill costs the child's random run time plus reading back and checking every retained record.
#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr int kKills = 60;  // each child run is ~10x slower under a sanitizer
constexpr int kKillAfterMinUs = 20'000, kKillAfterSpanUs = 150'000;
#else
constexpr int kKills = 400;
constexpr int kKillAfterMinUs = 1'000, kKillAfterSpanUs = 11'000;
#endif
constexpr std::uint32_t kPartitions = 2;

TopicOptions topic_options() {
  return TopicOptions{.partitions = kPartitions,
                      .retention = {.records = 0, .bytes = 1u << 20, .age = {}},
                      .max_payload = 1024,
                      .durability = Durability::none};
}

// One report on the pipe (well under PIPE_BUF, so each write is atomic).
struct Report {
  enum Kind : std::uint32_t { will_send, sent } kind;
  std::uint32_t partition;
  std::uint64_t seq;
  std::uint64_t offset;
};

std::string dedup_id_of(std::uint64_t seq) {
  return "dedup-" + std::to_string(seq);
}

std::string payload_of(std::uint64_t seq) {
  std::string s = "seq-";
  s += std::to_string(seq);
  s.append(seq % 113, static_cast<char>('a' + seq % 26));
  return s;
}

[[noreturn]] void child_main(const std::filesystem::path& dir, int run, int out) {
  auto report = [out](Report r) {
    if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) ::_exit(3);
  };
  try {
    Broker broker(BrokerOptions{.data_dir = dir});
    broker.declare_topic("events", topic_options());
    Producer producer = broker.producer();
    std::uint64_t seq = static_cast<std::uint64_t>(run) << 32;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto partition = static_cast<std::uint32_t>(seq % kPartitions);
      report({Report::will_send, partition, seq, 0});
      std::uint64_t offset = ~0ull;
      const std::string dedup_id = dedup_id_of(seq);  // SendOptions views it
      SendOptions options{.partition = partition, .dedup_id = dedup_id};
      options.on_complete = [&](const Result<SendReceipt>& r) {
        if (r) offset = r->offset;
      };
      if (!producer.send("events", payload_of(seq), options) || offset == ~0ull) ::_exit(5);
      report({Report::sent, partition, seq, offset});
      ++seq;
    }
  } catch (...) {
    ::_exit(4);
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("kill -9 of a broker producing to a durable topic never loses an accepted record") {
  ScratchDir dir;
  std::mt19937_64 rng(4242);
  // (partition, offset) -> seq: everything that must be there unless retention removed it.
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> model;
  std::uint64_t accepted = 0, in_flight_recovered = 0, retired = 0, recovered = 0;
  std::uint64_t lost = 0, ghosts = 0, gaps = 0, retried = 0, appended_twice = 0;
  const auto started = std::chrono::steady_clock::now();

  for (int run = 0; run < kKills; ++run) {
    CrashChild<Report> child([&](int out) { child_main(dir.path(), run, out); });
    // Let the child run for a random while (before, during and after its recovery).
    const bool killed =
        child.kill_after(std::chrono::microseconds(kKillAfterMinUs + rng() % kKillAfterSpanUs));
    INFO("run " << run << ": child status " << child.status());
    REQUIRE(killed);  // an exit code would be a child-side failure (see child_main)
    const std::vector<Report>& reports = child.reports();

    std::set<std::uint64_t> announced;
    std::vector<Report> sent_this_run;
    for (const Report& r : reports) {
      if (r.kind == Report::will_send) {
        announced.insert(r.seq);
      } else {
        announced.erase(r.seq);
        model[{r.partition, r.offset}] = r.seq;
        sent_this_run.push_back(r);
        ++accepted;
      }
    }

    // Reopen at the broker level and read everything back.
    Broker broker(BrokerOptions{.data_dir = dir.path()});
    auto topic = broker.declare_topic("events", topic_options());
    const auto stats = topic.stats();
    auto consumer =
        broker.group_consumer("events", "check-" + std::to_string(run), {.start = Start::earliest});
    std::map<std::pair<std::uint32_t, std::uint64_t>, std::string> found;
    for (;;) {
      auto batch = consumer.poll(4096);
      REQUIRE(batch);
      if (batch->empty() && batch->missed().empty()) break;
      for (const Record& r : *batch) {
        found[{r.partition, r.offset}] = std::string(r.payload().as_string());
      }
    }
    for (const auto& p : stats.partitions) {
      // Contiguous from start to end.
      for (std::uint64_t o = p.start_offset; o < p.end_offset; ++o) {
        if (!found.contains({p.partition, o})) ++gaps;
      }
    }
    for (auto it = model.begin(); it != model.end();) {
      const auto& [where, seq] = *it;
      if (where.second < stats.partitions[where.first].start_offset) {
        ++retired;  // removed by retention
        it = model.erase(it);
        continue;
      }
      auto f = found.find(where);
      if (f == found.end()) {
        ++lost;
      } else {
        REQUIRE(f->second == payload_of(seq));
      }
      ++it;
    }
    for (const auto& [where, payload] : found) {
      if (model.contains(where)) continue;
      // Never reported: must be a send announced when the kill came.
      bool known = false;
      for (std::uint64_t seq : announced) known = known || payload == payload_of(seq);
      if (known) {
        ++in_flight_recovered;
      } else {
        ++ghosts;
      }
    }
    REQUIRE(lost == 0);
    REQUIRE(gaps == 0);
    REQUIRE(ghosts == 0);
    // Retry every reported send whose record is retained: a duplicate of the first, appending
    // nothing.
    {
      Producer producer = broker.producer();
      for (const Report& r : sent_this_run) {
        if (r.offset < stats.partitions[r.partition].start_offset) continue;  // retention's
        std::optional<SendReceipt> receipt;
        const std::string dedup_id = dedup_id_of(r.seq);  // SendOptions views it
        SendOptions options{.partition = r.partition, .dedup_id = dedup_id};
        options.on_complete = [&](const Result<SendReceipt>& sent) {
          if (sent) receipt = *sent;
        };
        REQUIRE(producer.send("events", payload_of(r.seq), options));
        REQUIRE(receipt);
        ++retried;
        appended_twice += !receipt->duplicate || receipt->offset != r.offset;
      }
      REQUIRE(appended_twice == 0);
      for (const auto& p : topic.stats().partitions) {
        CHECK(p.end_offset == stats.partitions[p.partition].end_offset);
      }
    }
    // What was recovered is the model for the next run (an in-flight record is now kept).
    model.clear();
    for (const auto& [where, payload] : found) {
      model[where] = std::stoull(payload.substr(4));
    }
    recovered += found.size();
  }
  const double seconds = seconds_since(started);
  print_figures("durable_topic_crash", {{"kills", kKills},
                                        {"accepted", accepted},
                                        {"recovered", recovered},
                                        {"in_flight_recovered", in_flight_recovered},
                                        {"retired", retired},
                                        {"lost", lost},
                                        {"gaps", gaps},
                                        {"ghosts", ghosts},
                                        {"dedup_retried", retried},
                                        {"dedup_appended_twice", appended_twice},
                                        {"msgs_per_s", static_cast<double>(accepted) / seconds},
                                        {"seconds", seconds}});
  CHECK(accepted > 0);
  CHECK(retried > 0);
}
