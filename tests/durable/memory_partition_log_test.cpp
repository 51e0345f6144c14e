#include "durable/partition_log.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/detail/message_body.hpp"
#include "util/access.hpp"

using switchyard::Message;
using switchyard::Record;
using switchyard::Retention;
using switchyard::Timestamp;
using switchyard::detail::Access;
using switchyard::detail::MemoryPartitionLog;
using switchyard::detail::MessageBody;
using switchyard::detail::PartitionLog;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

/// A message with `payload`, sent (wall clock) at `wall_ns`.
Message message(const std::string& payload, std::int64_t wall_ns = 0, std::string key = "") {
  MessageBody* body = MessageBody::create(
      key, {}, std::span(reinterpret_cast<const std::byte*>(payload.data()), payload.size()));
  body->timestamp_ns = wall_ns;
  return Access::adopt(body);
}

std::string text(const Record& r) {
  return std::string(r.payload().as_string());
}

Retention unlimited() {
  return Retention{.records = 0, .bytes = 0, .age = 0s};
}

/// Appends `n` records "0".."n-1" at monotonic time `now_ns`; checks each offset.
void append_numbered(PartitionLog& log, int n, std::int64_t now_ns = 0) {
  const std::uint64_t first = log.end_offset();
  for (int i = 0; i < n; ++i) {
    auto offset = log.append(message(std::to_string(i)), now_ns, nullptr);
    REQUIRE(offset);
    REQUIRE(*offset == first + static_cast<std::uint64_t>(i));
  }
}

}  // namespace

TEST_CASE("an empty memory log starts and ends at offset 0 and reads nothing") {
  MemoryPartitionLog log(0, unlimited());
  CHECK(log.start_offset() == 0);
  CHECK(log.end_offset() == 0);
  std::vector<Record> out;
  const auto read = log.read(0, 10, out);
  CHECK(out.empty());
  CHECK(read.next == 0);
  CHECK(read.missed == 0);
}

TEST_CASE("appends get consecutive offsets and read back in order with their partition") {
  MemoryPartitionLog log(3, unlimited());
  append_numbered(log, 5);
  CHECK(log.end_offset() == 5);
  std::vector<Record> out;
  const auto read = log.read(0, 100, out);
  REQUIRE(out.size() == 5);
  for (std::size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].offset == i);
    CHECK(out[i].partition == 3);
    CHECK(text(out[i]) == std::to_string(i));
  }
  CHECK(read.next == 5);
}

TEST_CASE("a read stops at max records and the next read continues where it stopped") {
  MemoryPartitionLog log(0, unlimited());
  append_numbered(log, 10);
  std::vector<Record> out;
  auto read = log.read(0, 4, out);
  CHECK(out.size() == 4);
  CHECK(read.next == 4);
  read = log.read(read.next, 100, out);
  REQUIRE(out.size() == 10);
  CHECK(text(out.back()) == "9");
  CHECK(read.next == 10);
}

TEST_CASE("a read runs across chunk boundaries without losing or repeating a record") {
  // 400 records per limit: chunks of 100 (a quarter of the limit).
  const Retention retention{.records = 400, .bytes = 0, .age = 0s};
  REQUIRE(MemoryPartitionLog::chunk_capacity(retention) == 100);
  MemoryPartitionLog log(0, retention);
  append_numbered(log, 350);
  std::vector<Record> out;
  const auto read = log.read(95, 200, out);
  REQUIRE(out.size() == 200);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i].offset == 95 + i);
  CHECK(read.next == 295);
}

TEST_CASE("the done callback of a memory append runs once, with success, before it returns") {
  MemoryPartitionLog log(0, unlimited());
  int calls = 0;
  bool ok = false;
  auto offset = log.append(message("x"), 0, [&](switchyard::Status s) {
    ++calls;
    ok = static_cast<bool>(s);
  });
  REQUIRE(offset);
  CHECK(calls == 1);
  CHECK(ok);
}

TEST_CASE("retention by records keeps exactly the newest records") {
  MemoryPartitionLog log(0, Retention{.records = 10, .bytes = 0, .age = 0s});
  append_numbered(log, 25);
  CHECK(log.start_offset() == 15);
  CHECK(log.end_offset() == 25);
  CHECK(log.stats().appended == 25);
}

TEST_CASE("a reader below the oldest retained record is told how many it missed") {
  MemoryPartitionLog log(0, Retention{.records = 10, .bytes = 0, .age = 0s});
  append_numbered(log, 25);
  std::vector<Record> out;
  const auto read = log.read(3, 100, out);
  CHECK(read.missed == 12);  // offsets 3..14
  REQUIRE(out.size() == 10);
  CHECK(out.front().offset == 15);
  CHECK(text(out.front()) == "15");
  CHECK(read.next == 25);
}

TEST_CASE("retention by bytes counts key and payload and keeps the newest within the limit") {
  MemoryPartitionLog log(0, Retention{.records = 0, .bytes = 10, .age = 0s});
  for (int i = 0; i < 6; ++i) REQUIRE(log.append(message("abc", 0, "k"), 0, nullptr));  // 4 each
  const auto stats = log.stats();
  CHECK(stats.bytes == 8);  // two records of four bytes fit in ten
  CHECK(stats.appended_bytes == 24);
  CHECK(log.start_offset() == 4);
}

TEST_CASE("retention by age drops records once their age passes, as of the expiry time") {
  MemoryPartitionLog log(0, Retention{.records = 0, .bytes = 0, .age = 10s});
  REQUIRE(log.append(message("old"), 0, nullptr));
  REQUIRE(log.append(message("new"), 5 * kSecond, nullptr));
  log.expire(9 * kSecond);
  CHECK(log.start_offset() == 0);
  log.expire(10 * kSecond);
  CHECK(log.start_offset() == 1);
  log.expire(15 * kSecond);
  CHECK(log.start_offset() == 2);
  CHECK(log.end_offset() == 2);
}

TEST_CASE("a record's time never goes below the record ahead of it") {
  // The second append carries an earlier time (another producer's stamp): it is raised to the
  // first one's, so it does not expire before it.
  MemoryPartitionLog log(0, Retention{.records = 0, .bytes = 0, .age = 10s});
  REQUIRE(log.append(message("a"), 5 * kSecond, nullptr));
  REQUIRE(log.append(message("b"), 1 * kSecond, nullptr));
  log.expire(14 * kSecond);
  CHECK(log.start_offset() == 0);
  log.expire(15 * kSecond);
  CHECK(log.start_offset() == 2);
}

TEST_CASE("offset_for_time finds the first retained record at or after a timestamp") {
  MemoryPartitionLog log(0, unlimited());
  REQUIRE(log.append(message("a", 10), 0, nullptr));
  REQUIRE(log.append(message("b", 20), 0, nullptr));
  REQUIRE(log.append(message("c", 30), 0, nullptr));
  CHECK(log.offset_for_time(Timestamp(switchyard::Duration(5))) == 0);
  CHECK(log.offset_for_time(Timestamp(switchyard::Duration(20))) == 1);
  CHECK(log.offset_for_time(Timestamp(switchyard::Duration(21))) == 2);
  CHECK(log.offset_for_time(Timestamp(switchyard::Duration(31))) == 3);  // the log end
}

TEST_CASE("readers racing an appender and retention see every retained record once, in order") {
  const Retention retention{.records = 512, .bytes = 0, .age = 0s};
  MemoryPartitionLog log(0, retention);
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kRecords = 20'000;
#else
  constexpr int kRecords = 200'000;
#endif
  std::atomic<bool> failed{false};
  auto reader = [&] {
    std::uint64_t pos = 0;
    std::uint64_t seen = 0;
    std::uint64_t missed = 0;
    std::vector<Record> out;
    while (pos < static_cast<std::uint64_t>(kRecords)) {
      out.clear();
      const auto read = log.read(pos, 64, out);
      // Retention may move the start more than once within a read: every gap between the
      // records it returns (and before read.next) is a miss it reports, and nothing else.
      std::uint64_t expect = pos;
      std::uint64_t gaps = 0;
      for (const Record& r : out) {
        if (r.offset < expect || text(r) != std::to_string(r.offset)) failed.store(true);
        gaps += r.offset - expect;
        expect = r.offset + 1;
      }
      if (read.next < expect || gaps + (read.next - expect) != read.missed) failed.store(true);
      missed += read.missed;
      seen += out.size();
      pos = read.next;
      if (out.empty() && read.missed == 0) std::this_thread::yield();
    }
    if (seen + missed != static_cast<std::uint64_t>(kRecords)) failed.store(true);
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < kRecords; ++i) {
    if (!log.append(message(std::to_string(i)), 0, nullptr)) failed.store(true);
  }
  r1.join();
  r2.join();
  CHECK_FALSE(failed.load());
  CHECK(log.end_offset() == static_cast<std::uint64_t>(kRecords));
  CHECK(log.end_offset() - log.start_offset() == 512);
}
