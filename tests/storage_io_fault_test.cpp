// Failed storage calls, at every step: a failed open of a durable destination is a typed error
// at every durability level (defect 10.1.1: it was a SIGSEGV at batch and always), and for
// scripted workloads the Nth storage call fails, for every N, with EIO, ENOSPC and EMFILE
// (SQLite's "I/O error at op N"); after each, a clean reopen keeps everything accepted and
// brings back nothing acknowledged. The injector is installed for the whole process
// (FaultInjector::install), so it sees the Broker's lock, catalog, journals and logs.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage_support.hpp"
#include "switchyard/detail/file.hpp"
#include "switchyard/detail/queue_journal.hpp"
#include "switchyard/detail/segment_format.hpp"
#include "switchyard/switchyard.hpp"
#include "test_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::ScratchDir;
using switchyard::testing::code_of;

namespace {

#ifdef SWITCHYARD_SANITIZER_BUILD
constexpr bool kSanitizer = true;
#else
constexpr bool kSanitizer = false;
#endif

/// Installs an injector for every storage call of the process while it lives.
class Installed {
 public:
  explicit Installed(FaultInjector& injector) { FaultInjector::install(&injector); }
  ~Installed() { FaultInjector::install(nullptr); }
  Installed(const Installed&) = delete;
  Installed& operator=(const Installed&) = delete;
};

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
    failed_call_.store(op.call, std::memory_order_relaxed);
    fired_.store(true, std::memory_order_relaxed);
    return err_;
  }
  [[nodiscard]] std::uint64_t calls() const noexcept {
    return calls_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool fired() const noexcept { return fired_.load(std::memory_order_relaxed); }

 private:
  std::uint64_t fail_at_;
  int err_;
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<FileCall> failed_call_{FileCall::open};
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
// Defect 10.1.1: a failed open of a durable destination is a typed error, never a crash.

TEST_CASE("declaring a durable destination on a full disk fails with disk_full at every level") {
  for (const Durability level : kStoredLevels) {
    INFO("durability " << to_string(level));
    ScratchDir dir;
    Broker broker({.data_dir = dir.path()});
    FailCall full(FileCall::allocate, ENOSPC);
    Installed installed(full);
    CHECK(code_of([&] { broker.declare_queue("jobs", durable_queue(level)); }) ==
          Errc::disk_full);
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
      const auto stream =
          topic ? dir.path() / "topics" / "events" / "p0" : dir.path() / "queues" / "jobs" / "messages";
      const auto files = switchyard::test::segment_files(stream);
      REQUIRE(files.size() == 1);  // the active segment
      // A bit inside the first record's body; valid records follow it, so it is damage, not a
      // torn tail.
      switchyard::test::flip_bit(files[0], segment::kFileHeaderSize + segment::kBodyOffset + 8);
      auto error = switchyard::testing::error_of([&] { Broker reopened({.data_dir = dir.path()}); });
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
      try {
        Broker broker({.data_dir = dir.path()});
        // No descriptor left: open(2) takes the lowest free number, so a limit at that
        // number makes the next open fail with EMFILE.
        const int lowest_free = ::dup(0);
        ::close(lowest_free);
        const rlimit limit{static_cast<rlim_t>(lowest_free), static_cast<rlim_t>(lowest_free)};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(4);
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
