// Runs the built switchyard-inspect on data directories a broker wrote: every command's text
// and JSON output against the golden files in tests/broker/golden/inspect/, damage, argument
// errors, `tail -f` of a topic a broker writes meanwhile, and that no command writes a byte.
//
// Golden files: the data directory is built with a fixed ManualClock and a fixed sequence of
// sends (so ids, timestamps, offsets and sizes are the same on every run); the scratch path
// is written as $DIR. After a deliberate change of the output, regenerate them with
//   SWITCHYARD_UPDATE_GOLDEN=1 build/release/tests/inspect_tool_test
// and review the diff (`git diff tests/broker/golden`).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "durable/offset_store.hpp"
#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace std::chrono_literals;
using switchyard::test::ScratchDir;

extern char** environ;

#ifdef SWITCHYARD_INSPECT

namespace {

struct Run {
  int status = -1;  // exit status; -1: killed (timed out or by a signal)
  std::string output;
};

/// A running switchyard-inspect, its stdout and stderr on one pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<std::string> argv{SWITCHYARD_INSPECT};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    const int spawned =
        ::posix_spawn(&pid_, SWITCHYARD_INSPECT, &actions, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
    REQUIRE(spawned == 0);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// Reads until the output holds `lines` newlines or the child closes it, for at most
  /// `timeout`. False on time-out.
  bool read_lines(std::size_t lines, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_ &&
           static_cast<std::size_t>(std::count(output_.begin(), output_.end(), '\n')) < lines) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) {
        eof_ = true;
      } else {
        output_.append(buffer, static_cast<std::size_t>(n));
      }
    }
    return true;
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  /// Waits for the exit (reading everything first), for at most `timeout`; killed after it.
  Run wait(std::chrono::milliseconds timeout) {
    const bool done = read_lines(SIZE_MAX, timeout);
    if (!done) ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return {done && WIFEXITED(status) ? WEXITSTATUS(status) : -1, output_};
  }
  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool eof_ = false;
  std::string output_;
};

/// Runs switchyard-inspect with `args` (split at spaces) to its end, for at most 60 s.
Run inspect(const std::string& args) {
  std::vector<std::string> argv;
  std::istringstream in(args);
  for (std::string a; in >> a;) argv.push_back(a);
  Child child(argv);
  Run run = child.wait(60s);
  if (run.status == -1) FAIL("switchyard-inspect " << args << " did not end within 60 s");
  return run;
}

/// `text` with every occurrence of `from` written `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
  return text;
}

/// Compares `actual` with golden file `name` (or rewrites it under SWITCHYARD_UPDATE_GOLDEN).
void check_golden(const std::string& name, const std::string& actual) {
  const std::filesystem::path file = std::filesystem::path(SWITCHYARD_INSPECT_GOLDEN) / name;
  if (const char* update = std::getenv("SWITCHYARD_UPDATE_GOLDEN"); update && *update) {
    std::ofstream(file, std::ios::binary) << actual;
    WARN("rewrote " << file.string());
    return;
  }
  std::ifstream in(file, std::ios::binary);
  INFO("golden file " << file.string() << " (regenerate: SWITCHYARD_UPDATE_GOLDEN=1)");
  REQUIRE(in.good());
  const std::string expected{std::istreambuf_iterator<char>(in), {}};
  CHECK(actual == expected);
}

/// Every file and directory under `dir`: its bytes (files) and its mtime.
std::map<std::string, std::pair<std::string, std::int64_t>> snapshot(
    const std::filesystem::path& dir) {
  std::map<std::string, std::pair<std::string, std::int64_t>> out;
  auto mtime = [](const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  };
  out[""] = {"", mtime(dir)};
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const auto b = e.is_regular_file() ? test::read_all(e.path()) : std::vector<std::byte>{};
    out[e.path().lexically_relative(dir).string()] = {
        std::string(reinterpret_cast<const char*>(b.data()), b.size()), mtime(e.path())};
  }
  return out;
}

BrokerOptions options_for(const std::filesystem::path& dir, std::shared_ptr<Clock> clock) {
  BrokerOptions o;
  o.data_dir = dir;
  o.clock = std::move(clock);
  o.storage.segment_bytes = 4096;  // small segments: small files, and the streams roll
  return o;
}

/// The golden data directory: a queue (some messages acked, one delivered and taken back), a
/// two-partition topic whose name needs escaping on disk, a group's commits, an exchange and
/// a binding. Same bytes on every run.
void make_data_dir(const std::filesystem::path& dir) {
  auto clock = std::make_shared<ManualClock>();
  Broker broker(options_for(dir, clock));
  broker.declare_queue("emails", {.durability = Durability::none});
  broker.declare_topic("orders.v1", {.partitions = 2, .durability = Durability::none});
  broker.declare_exchange("events", ExchangeType::direct);
  broker.bind("events", "emails", "email");
  auto producer = broker.producer();
  const std::string payloads[] = {"hello 0", "héllo wörld ✓",
                                  std::string("tab\there, nul\0, bell\a", 21), "bad \xff\xfe utf-8",
                                  "{\"n\":4}"};
  for (int i = 0; i < 5; ++i) {
    REQUIRE(
        producer.send("emails", payloads[i],
                      {.key = "key-" + std::to_string(i),
                       .headers = {{"type", "EmailNotification"}, {"lang", i % 2 ? "fr" : "en"}}}));
    clock->advance(1s);
  }
  for (int i = 0; i < 6; ++i) {
    const std::string payload = "{\"order\":" + std::to_string(i) + ",\"note\":\"ünïcode\"}";
    REQUIRE(producer.send("orders.v1", payload,
                          {.key = "customer-" + std::to_string(i % 3),
                           .partition = static_cast<std::uint32_t>(i % 2)}));
    clock->advance(1s);
  }
  {
    auto consumer = broker.consumer("emails");
    auto first = consumer.receive();
    REQUIRE(first);
    REQUIRE(first->ack());
    auto second = consumer.receive();
    REQUIRE(second);  // delivered, never settled: back with attempt 1 after the restart
  }
  auto group = broker.group_consumer("orders.v1", "billing", {.start = Start::earliest});
  REQUIRE(group.poll(100));  // joins: both partitions assigned
  REQUIRE(group.commit(0, 2));
  REQUIRE(group.commit(1, 1));
}

}  // namespace

TEST_CASE("switchyard-inspect's text and JSON output of every command match the golden files") {
  ScratchDir dir;
  make_data_dir(dir.path());
  const std::string d = dir.path().string();
  const auto before = snapshot(dir.path());
  const std::vector<std::pair<std::string, std::string>> commands{
      {"list", "list " + d},
      {"catalog", "catalog " + d},
      {"offsets", "offsets " + d},
      {"dump-topic", "dump " + d + " --destination orders.v1"},
      {"dump-queue", "dump " + d + " --destination emails"},
      {"dump-filtered", "dump " + d +
                            " --destination orders.v1 --partition 1 --from-offset 1 "
                            "--to-offset 3 --payload json"},
      {"dump-key", "dump " + d + " --destination orders.v1 --key customer-0 --limit 1"},
      {"dump-time", "dump " + d +
                        " --destination emails --from-time 2023-11-14T22:13:21Z "
                        "--to-time 2023-11-14T22:13:23Z --payload hex"},
      {"dump-file", "dump " + d + "/queues/emails/messages/00000000000000000000.seg --limit 2"},
      {"pending", "pending " + d + " --queue emails"},
      {"stats", "stats " + d},
      {"verify", "verify " + d},
  };
  for (const auto& [name, args] : commands) {
    for (const bool json : {false, true}) {
      INFO("switchyard-inspect " << args << (json ? " --json" : ""));
      const Run run = inspect(args + (json ? " --json" : ""));
      CHECK(run.status == 0);
      check_golden(name + (json ? ".json" : ".txt"), replaced(run.output, d, "$DIR"));
    }
  }
  CHECK(snapshot(dir.path()) == before);  // no command wrote a byte or touched an mtime
}

TEST_CASE("switchyard-inspect shows names as declared - pending counts and UTF-8 as it is") {
  ScratchDir dir;
  make_data_dir(dir.path());
  const std::string d = dir.path().string();
  const Run list = inspect("list " + d);
  CHECK_THAT(list.output, Catch::Contains("orders.v1") && !Catch::Contains("%2E"));
  const Run pending = inspect("pending " + d + " --queue emails");
  CHECK_THAT(pending.output,
             Catch::Contains("4 pending message(s)") && Catch::Contains("attempts=1") &&
                 Catch::Contains("héllo wörld ✓") && Catch::Contains("bad \\xff\\xfe utf-8") &&
                 Catch::Contains("nul\\x00, bell\\x07"));
  const Run verify = inspect("verify " + d);
  CHECK(verify.status == 0);
  CHECK_THAT(verify.output, Catch::Contains("catalog, generation") &&
                                Catch::Contains("group offsets, generation") &&
                                !Catch::Contains("CORRUPT"));
}

TEST_CASE("switchyard-inspect reports a corrupt segment with its file and offset - exit status 1") {
  ScratchDir dir;
  make_data_dir(dir.path());
  const auto first = test::segment_files(dir / "queues/emails/messages").front();
  auto bytes = test::read_all(first);
  bytes[detail::segment::kFileHeaderSize + 40] ^= std::byte{0x20};
  test::write_all(first, bytes);
  const auto before = snapshot(dir.path());

  const Run verify = inspect("verify " + dir.path().string());
  CHECK(verify.status == 1);
  CHECK_THAT(verify.output, Catch::Contains("CORRUPT " + first.string() + ": offset 64: CRC") &&
                                Catch::Contains("DAMAGED"));
  const Run dump = inspect("dump " + first.string());
  CHECK(dump.status == 1);
  CHECK_THAT(dump.output, Catch::Contains("damage: offset 64"));
  const Run dump_queue = inspect("dump " + dir.path().string() + " --destination emails");
  CHECK(dump_queue.status == 1);
  CHECK_THAT(dump_queue.output, Catch::Contains("damage: " + first.string() + ": offset 64: CRC"));
  const Run stats = inspect("stats " + dir.path().string());
  CHECK(stats.status == 1);
  CHECK_THAT(stats.output, Catch::Contains("refuse (corrupt) unless salvage"));
  const Run pending = inspect("pending " + dir.path().string() + " --queue emails");
  CHECK(pending.status == 1);
  CHECK_THAT(pending.output, Catch::Contains("corrupt") && Catch::Contains(first.string()));
  CHECK(snapshot(dir.path()) == before);
}

TEST_CASE("switchyard-inspect reports a damaged checkpoint - and a good one is not damage") {
  ScratchDir dir;
  make_data_dir(dir.path());
  std::filesystem::path file;
  for (const auto& e : std::filesystem::directory_iterator(dir / "topics/orders%2Ev1/offsets")) {
    file = e.path();
  }
  std::filesystem::resize_file(file, 10);
  const Run verify = inspect("verify " + dir.path().string());
  CHECK(verify.status == 1);
  CHECK_THAT(verify.output, Catch::Contains("CORRUPT " + file.string()));
}

TEST_CASE("switchyard-inspect argument errors exit with 2 and say what is wrong - help exits 0") {
  CHECK(inspect("--help").status == 0);
  CHECK(inspect("dump --help").status == 0);
  const Run unknown = inspect("frobnicate");
  CHECK(unknown.status == 2);
  ScratchDir dir;
  make_data_dir(dir.path());
  const std::string d = dir.path().string();
  const Run limit = inspect("dump " + d + " --destination emails --limit x");
  CHECK(limit.status == 2);
  CHECK_THAT(limit.output, Catch::Contains("--limit"));
  const Run negative = inspect("dump " + d + " --destination emails --limit -1");
  CHECK(negative.status == 2);
  const Run time = inspect("dump " + d + " --destination emails --from-time yesterday");
  CHECK(time.status == 2);
  CHECK_THAT(time.output, Catch::Contains("not a time"));
  const Run payload = inspect("dump " + d + " --destination emails --payload base64");
  CHECK(payload.status == 2);
  const Run missing = inspect("dump " + d + " --destination nope");
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("no durable queue or topic named 'nope'") &&
                                 Catch::Contains("'orders.v1'"));
  CHECK(inspect("pending " + d + " --queue orders.v1").status == 2);  // a topic
  CHECK(inspect("list " + d + "/nowhere").status == 2);
}

TEST_CASE("switchyard-inspect tail -f prints a durable topic's records as a broker writes them") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  Broker broker(options_for(dir.path(), clock));
  broker.declare_topic("clicks", {.partitions = 1, .durability = Durability::none});
  auto producer = broker.producer();
  auto send = [&](int i) {
    // ~600-byte records: the 4 KiB segments roll while tail follows them.
    REQUIRE(producer.send("clicks", "click " + std::to_string(i) + std::string(600, '.'),
                          {.key = "user-" + std::to_string(i)}));
  };
  for (int i = 0; i < 3; ++i) send(i);
  Child tail({"tail", "-f", dir.path().string(), "--destination", "clicks", "--from-offset", "0",
              "--max-records", "12", "--interval-ms", "5"});
  if (!tail.read_lines(3, 30s)) FAIL("tail printed no 3 records in 30 s: " << tail.output());
  std::thread writer([&] {
    for (int i = 3; i < 12; ++i) send(i);
  });
  writer.join();
  const Run run = tail.wait(30s);
  if (run.status == -1) FAIL("tail did not end within 30 s of the 12th record: " << run.output);
  CHECK(run.status == 0);
  CHECK(test::segment_files(dir / "topics/clicks/p0").size() > 1);  // it followed a roll
  std::istringstream lines(run.output);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    CHECK_THAT(line, Catch::StartsWith("p0 offset " + std::to_string(n) + " ") &&
                         Catch::Contains("key=\"user-" + std::to_string(n) + "\""));
  }
  CHECK(n == 12);
}

TEST_CASE("switchyard-inspect tail -f ends on SIGINT with exit status 0") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  Broker broker(options_for(dir.path(), clock));
  broker.declare_topic("clicks", {.partitions = 1, .durability = Durability::none});
  REQUIRE(broker.producer().send("clicks", "one"));
  Child tail({"tail", "-f", dir.path().string(), "--destination", "clicks", "--from-offset", "0",
              "--json"});
  if (!tail.read_lines(1, 30s)) FAIL("tail printed nothing in 30 s: " << tail.output());
  tail.signal(SIGINT);
  const Run run = tail.wait(30s);
  CHECK(run.status == 0);
  CHECK_THAT(run.output, Catch::Contains("\"payload\":\"one\""));
}

#else
TEST_CASE(
    "switchyard-inspect is not built (SWITCHYARD_BUILD_TOOLS=OFF, or CLI11/nlohmann missing)") {
  WARN("switchyard-inspect tests skipped");
}
#endif
