// Failed storage calls, at every step: a failed open of a durable destination is a typed error
// at every durability level (defect 10.1.1: it was a SIGSEGV at batch and always), and for
// scripted workloads the Nth storage call fails, for every N, with EIO, ENOSPC and EMFILE
// (SQLite's "I/O error at op N"); after each, a clean reopen keeps everything accepted and
// brings back nothing acknowledged. The injector is installed for the whole process
// (FaultInjector::install), so it sees the Broker's lock, catalog, journals and logs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable/queue_journal.hpp"
#include "storage/file.hpp"
#include "storage/segment_format.hpp"
#include "storage/segment_log.hpp"
#include "support/storage_support.hpp"
#include "support/test_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::code_of;
using switchyard::test::ScratchDir;

namespace {

using switchyard::test::Installed;
using switchyard::test::kSanitizer;

/// Fails every call of one kind (optionally only for paths containing `needle`).
class FailCall : public FaultInjector {
 public:
  FailCall(FileCall call, int err, std::string needle = {})
      : call_(call), err_(err), needle_(std::move(needle)) {}
  int on_call(const FileOp& op) noexcept override {
    if (op.call != call_ || op.path.find(needle_) == std::string_view::npos) return 0;
    failed_.fetch_add(1, std::memory_order_relaxed);  // a count read after the threads stop
    return err_;
  }
  [[nodiscard]] int failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

 private:
  FileCall call_;
  int err_;
  std::string needle_;
  std::atomic<int> failed_{0};
};

/// Counts every storage call; fails the `fail_at`-th (1-based; 0: none) with `err`.
class NthCall : public FaultInjector {
 public:
  NthCall(std::uint64_t fail_at, int err) : fail_at_(fail_at), err_(err) {}
  int on_call(const FileOp& op) noexcept override {
    // Relaxed: a ticket; which thread's call is the nth does not matter, only that one is.
    const std::uint64_t n = calls_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n != fail_at_) return 0;
    {
      std::lock_guard lock(mutex_);
      failed_ = std::string(to_string(op.call)) + " " + std::string(op.path);
    }
    fired_.store(true, std::memory_order_relaxed);
    return err_;
  }
  [[nodiscard]] std::uint64_t calls() const noexcept {
    return calls_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool fired() const noexcept { return fired_.load(std::memory_order_relaxed); }
  /// The call that failed, with its path ("-" before it fired).
  [[nodiscard]] std::string failed_call() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }

 private:
  std::uint64_t fail_at_;
  int err_;
  std::atomic<std::uint64_t> calls_{0};
  mutable std::mutex mutex_;
  std::string failed_ = "-";
  std::atomic<bool> fired_{false};
};

constexpr Durability kStoredLevels[] = {Durability::none, Durability::batch, Durability::always};

QueueOptions durable_queue(Durability level) {
  return QueueOptions{.visibility_timeout = std::chrono::seconds(0), .durability = level};
}

TopicOptions durable_topic(Durability level) {
  return TopicOptions{.partitions = 2, .durability = level};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every storage call passes through the injector, so that the Nth-call sweeps below reach it.

TEST_CASE(
    "a segment's fstat - a deleted topic's removal and the lock's release go through the fault "
    "injector") {
  struct Recorder : FaultInjector {
    std::mutex m;
    std::vector<std::pair<FileCall, std::string>> calls;
    int on_call(const FileOp& op) noexcept override {
      std::lock_guard lock(m);
      calls.emplace_back(op.call, std::string(op.path));
      return 0;
    }
    std::size_t count(FileCall call, const std::filesystem::path& path) {
      std::lock_guard lock(m);
      return static_cast<std::size_t>(
          std::count(calls.begin(), calls.end(), std::pair(call, path.string())));
    }
  } recorder;
  ScratchDir dir;
  Installed installed(recorder);
  {
    Broker broker({.data_dir = dir.path()});
    broker.declare_queue("jobs", durable_queue(Durability::none));
    broker.declare_topic("events", durable_topic(Durability::none));
    broker.delete_topic("events");
  }
  CHECK(recorder.count(FileCall::unlink, dir / "topics" / "events") == 1);
  CHECK(recorder.count(FileCall::truncate, dir / "LOCK") == 2);  // taken, then released
  { Broker reopened({.data_dir = dir.path()}); }
  const auto segment = test::segment_files(dir / "queues" / "jobs" / "messages").front();
  CHECK(recorder.count(FileCall::stat, segment) >= 2);  // scanned, then mapped for appending
}

// ---------------------------------------------------------------------------------------------
// Defect 10.1.1: a failed open of a durable destination is a typed error, never a crash.

TEST_CASE("declaring a durable destination on a full disk fails with disk_full at every level") {
  for (const Durability level : kStoredLevels) {
    INFO("durability " << to_string(level));
    ScratchDir dir;
    Broker broker({.data_dir = dir.path()});
    FailCall full(FileCall::allocate, ENOSPC);
    Installed installed(full);
    CHECK(code_of([&] { broker.declare_queue("jobs", durable_queue(level)); }) == Errc::disk_full);
    CHECK(code_of([&] { broker.declare_topic("events", durable_topic(level)); }) ==
          Errc::disk_full);
    CHECK(full.failed() >= 2);
    CHECK_FALSE(broker.contains("jobs"));
    CHECK_FALSE(broker.contains("events"));
  }
  // For comparison: a memory-only destination never touches the disk.
  ScratchDir dir;
  Broker broker({.data_dir = dir.path()});
  FailCall full(FileCall::allocate, ENOSPC);
  Installed installed(full);
  CHECK_NOTHROW(broker.declare_queue("jobs", durable_queue(Durability::memory)));
  CHECK(full.failed() == 0);
}

TEST_CASE(
    "a damaged record in the active segment makes reopening the data directory fail with "
    "corrupt at every level") {
  for (const Durability level : kStoredLevels) {
    for (const bool topic : {false, true}) {
      INFO("durability " << to_string(level) << (topic ? ", topic" : ", queue"));
      ScratchDir dir;
      {
        Broker broker({.data_dir = dir.path()});
        auto producer = broker.producer();
        if (topic) {
          broker.declare_topic("events", {.partitions = 1, .durability = level});
        } else {
          broker.declare_queue("jobs", durable_queue(level));
        }
        for (int i = 0; i < 3; ++i) {
          REQUIRE(producer.send(topic ? "events" : "jobs", switchyard::test::payload_for(i, 64)));
        }
      }
      const auto stream = topic ? dir.path() / "topics" / "events" / "p0"
                                : dir.path() / "queues" / "jobs" / "messages";
      const auto files = switchyard::test::segment_files(stream);
      REQUIRE(files.size() == 1);  // the active segment
      // A bit inside the first record's body; valid records follow it, so it is damage, not a
      // torn tail.
      switchyard::test::flip_bit(files[0], segment::kFileHeaderSize + segment::kBodyOffset + 8);
      auto error = switchyard::test::error_of([&] { Broker reopened({.data_dir = dir.path()}); });
      REQUIRE(error);
      CHECK(error->code() == Errc::corrupt);
      CHECK_THAT(error->what(), Catch::Contains(files[0].filename().string()));
    }
  }
}

TEST_CASE(
    "a destination name whose escaped form is longer than a file name may be works durably "
    "and survives a restart") {
  std::string cjk;
  for (int i = 0; i < 40; ++i) cjk += "\xE9\x98\x9F";  // U+961F, 9 bytes once escaped
  const std::vector<std::string> names = {std::string(86, '.'), std::string(255, '.'), cjk,
                                          std::string(254, '.') + "a", std::string(254, '.') + "b"};
  for (const Durability level : kStoredLevels) {
    INFO("durability " << to_string(level));
    ScratchDir dir;
    {
      Broker broker({.data_dir = dir.path()});
      auto producer = broker.producer();
      for (const auto& name : names) {
        broker.declare_queue(name, durable_queue(level));
        REQUIRE(producer.send(name, "for " + std::to_string(name.size())));
        REQUIRE(producer.send(name, name.substr(name.size() - 1)));
      }
      broker.declare_topic(names[0] + "t", {.partitions = 1, .durability = level});
      REQUIRE(producer.send(names[0] + "t", "record"));
    }
    Broker broker({.data_dir = dir.path()});
    for (const auto& name : names) {
      INFO("name of " << name.size() << " bytes");
      REQUIRE(broker.contains(name));
      auto consumer = broker.consumer(name);
      auto first = consumer.receive();
      REQUIRE(first);
      CHECK(first->payload().as_string() == "for " + std::to_string(name.size()));
      auto second = consumer.receive();
      REQUIRE(second);  // two names that differ only in their last byte kept apart
      CHECK(second->payload().as_string() == name.substr(name.size() - 1));
      CHECK_FALSE(consumer.receive());
    }
    auto group = broker.group_consumer(names[0] + "t", "g", {.start = Start::earliest});
    auto batch = group.poll(10);
    REQUIRE(batch);
    REQUIRE(batch->size() == 1);
  }
}

TEST_CASE(
    "a process at its file-descriptor limit gets a typed error declaring a durable destination "
    "at every level") {
  for (const Durability level : kStoredLevels) {
    INFO("durability " << to_string(level));
    ScratchDir dir;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Exit codes: 0 a typed io_error, 2 no error, 3 another code.
      int status = 2;
      FailCall no_descriptor(FileCall::open, EMFILE);
      std::optional<Installed> injected;
      try {
        Broker broker({.data_dir = dir.path()});
        if (kSanitizer) {
          // The sanitizer runtime opens files of its own (UBSan's vptr check reads
          // /proc/self/maps) and reports false errors at the descriptor limit: under a
          // sanitizer the storage layer's opens fail with EMFILE by injection instead.
          injected.emplace(no_descriptor);
        } else {
          // No descriptor left: open(2) takes the lowest free number, so a limit at that
          // number makes the next open fail with EMFILE.
          const int lowest_free = ::dup(0);
          ::close(lowest_free);
          const rlimit limit{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
          if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(4);
        }
        try {
          broker.declare_queue("jobs", durable_queue(level));
        } catch (const Error& e) {
          status = e.code() == Errc::io_error ? 0 : 3;
        }
        if (status == 0) {
          try {
            broker.declare_topic("events", durable_topic(level));
            status = 2;
          } catch (const Error& e) {
            status = e.code() == Errc::io_error ? 0 : 3;
          }
        }
      } catch (...) {
        status = 5;
      }
      ::_exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("child status " << status);
    REQUIRE(WIFEXITED(status));  // not killed by SIGSEGV
    CHECK(WEXITSTATUS(status) == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// An I/O fault at every step.

namespace {

constexpr int kErrnos[] = {EIO, ENOSPC, EMFILE};

/// What a workload was told. A send or ack that failed may still have reached the disk (an
/// `always` append whose sync failed), so it goes in `maybe_*` only.
struct Ledger {
  std::set<std::string> sent, maybe_sent, acked, maybe_acked;
  std::set<std::string> records, maybe_records;      // topic
  std::map<std::uint32_t, std::uint64_t> committed;  // last commit that succeeded
  std::uint64_t errors = 0;                          // typed errors seen (thrown or returned)
};

struct Verdict {
  std::uint64_t recovered = 0, lost = 0, resurrected = 0, ghosts = 0;
  std::vector<std::string> notes;
  void add(const Verdict& v) {
    recovered += v.recovered;
    lost += v.lost;
    resurrected += v.resurrected;
    ghosts += v.ghosts;
    for (const auto& n : v.notes) {
      if (notes.size() < 8) notes.push_back(n);
    }
  }
};

/// Segments small enough that the scripts roll them (and do not reserve 64 MiB per log,
/// thousands of times).
constexpr std::uint64_t kSmallSegment = 512;

/// The broker-level script: declare a durable queue and topic (the catalog written each
/// time), send, receive and ack, append to the topic, poll and commit, then reopen the
/// directory and do a little of each again. Every Error and failed Result is counted.
void broker_workload(const std::filesystem::path& dir, Durability level, Ledger& ledger) {
  auto clock = std::make_shared<ManualClock>();
  int round = 0;
  auto run = [&] {
    Broker broker({.clock = clock, .data_dir = dir, .storage = {.segment_bytes = kSmallSegment}});
    broker.declare_queue("jobs", durable_queue(level));
    broker.declare_topic("events", durable_topic(level));
    auto producer = broker.producer();
    for (int i = 0; i < 4; ++i) {
      const std::string payload = "job-" + std::to_string(round) + "-" + std::to_string(i);
      ledger.maybe_sent.insert(payload);
      if (producer.send("jobs", payload)) {
        ledger.sent.insert(payload);
      } else {
        ++ledger.errors;
      }
    }
    {
      auto consumer = broker.consumer("jobs");
      for (int i = 0; i < 2; ++i) {
        auto delivery = consumer.receive();
        if (!delivery) {
          ++ledger.errors;
          continue;
        }
        const std::string payload(delivery->payload().as_string());
        ledger.maybe_acked.insert(payload);
        if (delivery->ack()) {
          ledger.acked.insert(payload);
        } else {
          ++ledger.errors;
        }
      }
    }
    for (std::uint32_t i = 0; i < 4; ++i) {
      const std::string payload = "event-" + std::to_string(round) + "-" + std::to_string(i);
      ledger.maybe_records.insert(payload);
      if (producer.send("events", payload, {.partition = i % 2})) {
        ledger.records.insert(payload);
      } else {
        ++ledger.errors;
      }
    }
    auto group = broker.group_consumer("events", "g", {.start = Start::earliest});
    if (auto batch = group.poll(100); !batch) ++ledger.errors;
    for (std::uint32_t p = 0; p < 2; ++p) {
      const std::uint64_t offset = 1 + static_cast<std::uint64_t>(round);  // never 0
      if (group.commit(p, offset)) {
        ledger.committed[p] = offset;
      } else {
        ++ledger.errors;
      }
    }
  };
  for (round = 0; round < 2; ++round) {
    try {
      run();
    } catch (const Error&) {
      ++ledger.errors;
    }
  }
}

/// The queue's accounting: every send that succeeded and was not possibly acked is in `got`;
/// nothing acked came back; nothing in `got` was never sent, or is there twice.
void account_messages(const Ledger& ledger, const std::multiset<std::string>& got, Verdict& v) {
  for (const auto& p : ledger.sent) {
    if (!ledger.maybe_acked.contains(p) && !got.contains(p)) {
      ++v.lost;
      v.notes.push_back("lost " + p);
    }
  }
  for (const auto& p : got) {
    if (ledger.acked.contains(p)) {
      ++v.resurrected;
      v.notes.push_back("acked but back: " + p);
    }
    if (!ledger.maybe_sent.contains(p) || got.count(p) > 1) {
      ++v.ghosts;
      v.notes.push_back("never sent (or twice): " + p);
    }
  }
}

/// Opens `dir` with no faults and compares what it holds with what the workload was told.
Verdict check_broker(const std::filesystem::path& dir, Durability level, const Ledger& ledger) {
  Verdict v;
  Broker broker({.clock = std::make_shared<ManualClock>(),
                 .data_dir = dir,
                 .storage = {.segment_bytes = kSmallSegment}});
  // Declared again: a declare whose catalog write failed left its data without an entry.
  broker.declare_queue("jobs", durable_queue(level));
  broker.declare_topic("events", durable_topic(level));
  std::multiset<std::string> got;
  {
    auto consumer = broker.consumer("jobs");
    while (auto delivery = consumer.receive()) got.emplace(delivery->payload().as_string());
  }
  account_messages(ledger, got, v);
  v.recovered += got.size();
  std::multiset<std::string> records;
  {
    auto reader = broker.group_consumer("events", "check", {.start = Start::earliest});
    for (;;) {
      auto batch = reader.poll(1000);
      REQUIRE(batch);
      if (batch->empty()) break;
      for (const auto& r : *batch) records.emplace(r.payload().as_string());
    }
  }
  for (const auto& p : ledger.records) {
    if (!records.contains(p)) {
      ++v.lost;
      v.notes.push_back("lost record " + p);
    }
  }
  for (const auto& p : records) {
    if (!ledger.maybe_records.contains(p) || records.count(p) > 1) {
      ++v.ghosts;
      v.notes.push_back("record never sent (or twice): " + p);
    }
  }
  v.recovered += records.size();
  auto group = broker.group_consumer("events", "g", {.start = Start::earliest});
  for (const auto& [p, offset] : ledger.committed) {
    auto committed = group.committed(p);
    if (!committed || *committed < offset) {
      ++v.resurrected;  // a commit that succeeded was undone
      v.notes.push_back("commit undone on partition " + std::to_string(p));
    }
  }
  return v;
}

/// The journal-level script, with segments small enough to roll and a settlement log small
/// enough to compact: append, deliver, ack (deleting acknowledged segments), compact, reopen.
QueueJournalOptions small_journal(Durability level) {
  QueueJournalOptions o;
  o.log.durability = level;
  o.log.segment_bytes = 2 * kSmallSegment;
  o.settlement_segment_bytes = kSmallSegment;
  o.compact_bytes = 256;
  return o;
}

std::string journal_payload(const StoredMessage& m) {
  return switchyard::test::text_of(m.payload);
}

void journal_workload(const std::filesystem::path& dir, Durability level, Ledger& ledger) {
  std::uint64_t next = 0;
  for (int round = 0; round < 2; ++round) {
    auto journal = QueueJournal::open(dir, small_journal(level));
    if (!journal) {
      ++ledger.errors;
      continue;
    }
    auto& j = **journal;
    std::map<std::uint64_t, std::string> seqs;
    for (int i = 0; i < 12; ++i) {
      StoredMessage m;
      m.id = ++next;
      const std::string payload = switchyard::test::payload_for(next, 100);
      m.payload = switchyard::test::bytes_of(payload);
      ledger.maybe_sent.insert(payload);
      if (auto seq = j.append(fields_of(m))) {
        ledger.sent.insert(payload);
        seqs[*seq] = payload;
      } else {
        ++ledger.errors;
      }
    }
    int n = 0;
    for (const auto& [seq, payload] : seqs) {
      if (n++ % 3 == 2) continue;  // one in three stays unacknowledged
      if (!j.record_delivery(seq, 1)) ++ledger.errors;
      ledger.maybe_acked.insert(payload);
      if (j.record_ack(seq)) {
        ledger.acked.insert(payload);
      } else {
        ++ledger.errors;
      }
    }
    if (!j.compact()) ++ledger.errors;
    if (!j.sync()) ++ledger.errors;
  }
}

Verdict check_journal(const std::filesystem::path& dir, Durability level, const Ledger& ledger) {
  Verdict v;
  auto journal = QueueJournal::open(dir, small_journal(level));
  REQUIRE(journal);
  auto recovered = (*journal)->recover();
  REQUIRE(recovered);
  std::multiset<std::string> got;
  for (const auto& r : *recovered) got.insert(journal_payload(r.message));
  account_messages(ledger, got, v);
  v.recovered = got.size();
  return v;
}

struct Workload {
  const char* name;
  void (*run)(const std::filesystem::path&, Durability, Ledger&);
  Verdict (*check)(const std::filesystem::path&, Durability, const Ledger&);
};

constexpr Workload kWorkloads[] = {{"broker", broker_workload, check_broker},
                                   {"journal", journal_workload, check_journal}};

}  // namespace

TEST_CASE(
    "failing the nth storage call of a workload for every n with EIO ENOSPC and EMFILE gives "
    "typed errors and loses nothing accepted") {
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t faults = 0, operations = 0, accepted = 0, acked = 0, errors = 0;
  Verdict total;
  for (const Workload& workload : kWorkloads) {
    for (const Durability level : {Durability::batch, Durability::always}) {
      std::uint64_t calls = 0;
      {
        ScratchDir dir;
        NthCall counter(0, 0);
        Ledger ledger;
        {
          Installed installed(counter);
          workload.run(dir.path(), level, ledger);
        }
        calls = counter.calls();
        REQUIRE(ledger.errors == 0);  // the script itself is sound
        const Verdict clean = workload.check(dir.path(), level, ledger);
        REQUIRE(clean.lost + clean.resurrected + clean.ghosts == 0);
      }
      REQUIRE(calls > 20);
      // Under a sanitizer, every third n (all of them in release).
      const std::uint64_t step = kSanitizer ? 3 : 1;
      for (const int err : kErrnos) {
        for (std::uint64_t n = 1; n <= calls; n += step) {
          INFO(workload.name << " at " << to_string(level) << ": call " << n << " of " << calls
                             << " fails with errno " << err);
          ScratchDir dir;
          NthCall fault(n, err);
          Ledger ledger;
          {
            Installed installed(fault);
            workload.run(dir.path(), level, ledger);
          }
          operations +=
              ledger.maybe_sent.size() + ledger.maybe_acked.size() + ledger.maybe_records.size();
          if (!fault.fired()) continue;  // a batch run made fewer calls (flusher timing)
          UNSCOPED_INFO("the failed call: " << fault.failed_call());
          ++faults;
          errors += ledger.errors;
          const Verdict v = workload.check(dir.path(), level, ledger);
          for (const auto& note : v.notes) UNSCOPED_INFO(note);
          CHECK(v.lost + v.resurrected + v.ghosts == 0);
          total.add(v);
          accepted += ledger.sent.size() + ledger.records.size();
          acked += ledger.acked.size();
        }
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "figures: storage_io_fault_test: faults=%llu operations=%llu accepted=%llu acked=%llu "
      "recovered=%llu lost=%llu resurrected=%llu ghosts=%llu seconds=%.1f\n",
      static_cast<unsigned long long>(faults), static_cast<unsigned long long>(operations),
      static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(total.recovered), static_cast<unsigned long long>(total.lost),
      static_cast<unsigned long long>(total.resurrected),
      static_cast<unsigned long long>(total.ghosts), seconds);
  CHECK(errors >= faults / 2);  // most injected faults surface as typed errors
  CHECK(total.lost + total.resurrected + total.ghosts == 0);
}

// ---------------------------------------------------------------------------------------------
// A segment that grows (StorageOptions::preallocate grow, the default): the space is reserved
// before it is written, so a failed reservation while growing fails that append alone.

TEST_CASE(
    "a full disk while a durable queue's segment grows fails that send with disk_full at every "
    "level - the queue resumes when space returns - and a reopen is clean and loses nothing") {
  for (const Durability level : kStoredLevels) {
    INFO("durability " << to_string(level));
    ScratchDir dir;
    std::vector<std::string> accepted;
    int refused = 0;
    {
      Broker broker({.data_dir = dir.path()});
      broker.declare_queue("jobs", durable_queue(level));
      auto producer = broker.producer();
      {
        // The messages' first extent (64 KiB) holds ~60 of these; the next one needs more.
        FailCall full(FileCall::allocate, ENOSPC, "messages");
        Installed installed(full);
        for (int i = 0; i < 200 && refused == 0; ++i) {
          std::string payload = switchyard::test::payload_for(i, 1000);
          auto sent = producer.send("jobs", payload);
          if (sent) {
            accepted.push_back(std::move(payload));
          } else {
            CHECK(sent.code() == Errc::disk_full);
            ++refused;
          }
        }
        CHECK(full.failed() >= 1);
      }
      REQUIRE(refused == 1);
      CHECK(accepted.size() > 50);
      for (int i = 0; i < 100; ++i) {  // space is back: the segment grows and takes them
        std::string payload = switchyard::test::payload_for(1000 + i, 1000);
        REQUIRE(producer.send("jobs", payload));
        accepted.push_back(std::move(payload));
      }
    }
    Broker broker({.data_dir = dir.path()});
    CHECK_FALSE(broker.recovery_report().repaired());
    auto consumer = broker.consumer("jobs");
    std::size_t recovered = 0;
    for (const auto& expected : accepted) {
      auto d = consumer.receive();
      REQUIRE(d);
      CHECK(d->payload().as_string() == expected);
      REQUIRE(d->ack());
      ++recovered;
    }
    CHECK_FALSE(consumer.receive());
    std::printf(
        "figures: storage_grow_disk_full (%s): faults=%d accepted=%zu recovered=%zu lost=%zu\n",
        std::string(to_string(level)).c_str(), refused, accepted.size(), recovered,
        accepted.size() - recovered);
  }
}

TEST_CASE(
    "failing the nth storage call of a growing log for every n gives typed errors - the failed "
    "append alone is missing - and recovery is clean") {
  std::uint64_t faults = 0, accepted_total = 0, refused_total = 0;
  for (const Durability level : {Durability::none, Durability::batch}) {
    auto options = [&] {
      SegmentLogOptions o;
      o.segment_bytes = 64 * 1024;  // a 4 KiB first extent: grows 4 times, then rolls
      o.durability = level;
      return o;
    };
    auto run = [&](const std::filesystem::path& dir, std::vector<std::string>& accepted) {
      auto log = SegmentLog::open(dir, options());
      if (!log) {
        CHECK((log.code() == Errc::io_error || log.code() == Errc::disk_full));
        return 1;
      }
      int refused = 0;
      for (int i = 0; i < 240; ++i) {
        std::string payload = switchyard::test::payload_for(i, 500);
        auto offset = (*log)->append(std::as_bytes(std::span(payload)), i);
        if (offset) {
          CHECK(*offset == accepted.size());
          accepted.push_back(std::move(payload));
        } else {
          CHECK((offset.code() == Errc::io_error || offset.code() == Errc::disk_full));
          ++refused;
        }
      }
      return refused;
    };
    std::uint64_t calls = 0;
    {
      ScratchDir dir;
      NthCall counter(0, 0);
      std::vector<std::string> accepted;
      {
        Installed installed(counter);
        REQUIRE(run(dir.path(), accepted) == 0);
      }
      calls = counter.calls();
      REQUIRE(test::segment_files(dir.path()).size() >= 2);  // it grew, then rolled
    }
    for (const int err : {EIO, ENOSPC}) {
      for (std::uint64_t n = 1; n <= calls; ++n) {
        INFO(to_string(level) << ": call " << n << " of " << calls << " fails with errno " << err);
        ScratchDir dir;
        NthCall fault(n, err);
        std::vector<std::string> accepted;
        int refused = 0;
        {
          Installed installed(fault);
          refused = run(dir.path(), accepted);
        }
        if (!fault.fired()) continue;
        UNSCOPED_INFO("the failed call: " << fault.failed_call());
        ++faults;
        refused_total += static_cast<std::uint64_t>(refused);
        accepted_total += accepted.size();
        auto reopened = SegmentLog::open(dir.path(), options());
        REQUIRE(reopened);
        CHECK((*reopened)->recovery_stats().events.empty());
        std::vector<std::string> recovered;
        for (std::uint64_t from = 0;;) {
          auto batch = (*reopened)->read(from, 100);
          REQUIRE(batch);
          if (batch->records.empty()) break;
          for (const auto& r : batch->records) recovered.push_back(test::text_of(r.body));
          from = batch->next_offset;
        }
        CHECK(recovered == accepted);
      }
    }
  }
  std::printf("figures: storage_grow_nth_call: faults=%llu accepted=%llu refused=%llu lost=0\n",
              static_cast<unsigned long long>(faults),
              static_cast<unsigned long long>(accepted_total),
              static_cast<unsigned long long>(refused_total));
}
