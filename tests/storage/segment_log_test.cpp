#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <sys/stat.h>

#include "storage/segment_log.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using namespace std::chrono_literals;
using switchyard::test::bytes_of;
using switchyard::test::payload_for;
using switchyard::test::ScratchDir;
using switchyard::test::text_of;

namespace {

SegmentLogOptions small_segments(std::uint64_t bytes = 4096) {
  SegmentLogOptions o;
  o.segment_bytes = bytes;
  return o;
}

std::unique_ptr<SegmentLog> open_log(const std::filesystem::path& dir, SegmentLogOptions o) {
  auto log = SegmentLog::open(dir, std::move(o));
  if (!log) FAIL("open failed: " << log.message());
  return std::move(*log);
}

void append_n(SegmentLog& log, std::uint64_t first, std::uint64_t n, std::size_t size = 40) {
  for (std::uint64_t i = first; i < first + n; ++i) {
    auto offset = log.append(bytes_of(payload_for(i, size)), static_cast<std::int64_t>(i) * 10);
    REQUIRE(offset);
    REQUIRE(*offset == i);
  }
}

std::vector<std::string> read_all_records(const SegmentLog& log, std::uint64_t from = 0) {
  std::vector<std::string> out;
  std::uint64_t previous = 0;
  for (;;) {
    auto batch = log.read(from, 100);
    REQUIRE(batch);
    if (batch->records.empty()) break;
    for (const auto& r : batch->records) {
      if (!out.empty()) REQUIRE(r.offset > previous);  // increasing (gaps only after salvage)
      previous = r.offset;
      out.push_back(text_of(r.body));
    }
    from = batch->next_offset;
  }
  return out;
}

std::size_t open_fds() {
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd");
       it != std::filesystem::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

// Waits (bounded) for a condition set by another thread.
class Latch {
 public:
  void count_down() {
    std::lock_guard lock(m_);
    ++n_;
    cv_.notify_all();
  }
  bool wait_for(int n, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [&] { return n_ >= n; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_ = 0;
};

class Faults : public FaultInjector {
 public:
  std::atomic<int> fail_next_sync{0};
  std::atomic<int> fail_allocations{0};
  int on_sync(std::string_view) noexcept override { return fail_next_sync.exchange(0); }
  int on_allocate(std::string_view, std::uint64_t) noexcept override {
    return fail_allocations.load();
  }
};

}  // namespace

TEST_CASE("appended records read back in order with consecutive offsets across segment rolls") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 500);
  CHECK(log->segment_count() > 5);
  CHECK(log->start_offset() == 0);
  CHECK(log->end_offset() == 500);
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == 500);
  for (std::uint64_t i = 0; i < 500; ++i) CHECK(records[i] == payload_for(i));
}

TEST_CASE("a read from the middle starts exactly at the requested offset") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 300);
  for (std::uint64_t from : {0u, 1u, 57u, 128u, 299u}) {
    auto batch = log->read(from, 3);
    REQUIRE(batch);
    REQUIRE_FALSE(batch->records.empty());
    CHECK(batch->records.front().offset == from);
    CHECK(text_of(batch->records.front().body) == payload_for(from));
  }
  auto at_end = log->read(300);
  REQUIRE(at_end);
  CHECK(at_end->records.empty());
  CHECK(log->read(301).code() == Errc::out_of_range);
}

TEST_CASE("a reopened log recovers every record and reports what it scanned") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 250);
  }
  auto log = open_log(dir.path(), small_segments());
  CHECK(log->end_offset() == 250);
  const auto& stats = log->recovery_stats();
  CHECK(stats.records == 250);
  CHECK(stats.truncated_bytes == 0);
  CHECK(stats.segments == log->segment_count());
  CHECK(read_all_records(*log).size() == 250);
  append_n(*log, 250, 10);
  CHECK(read_all_records(*log, 245).size() == 15);
}

TEST_CASE("an empty body is a valid record") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  REQUIRE(log->append({}, 1));
  auto batch = log->read(0);
  REQUIRE(batch);
  REQUIRE(batch->records.size() == 1);
  CHECK(batch->records[0].body.empty());
}

TEST_CASE("a record larger than a segment is refused as payload_too_large") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  auto r = log->append(std::vector<std::byte>(5000), 1);
  CHECK(r.code() == Errc::payload_too_large);
  CHECK(log->end_offset() == 0);
}

TEST_CASE("append_in_place writes the body into the mapping - it reads back and survives reopen") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    for (std::uint64_t i = 0; i < 50; ++i) {  // ~4 segments: rolls happen between writes
      const std::string text = payload_for(i, 100 + i);
      std::size_t calls = 0;
      auto write = [&](std::span<std::byte> out) noexcept {
        ++calls;
        if (out.size() == text.size()) std::memcpy(out.data(), text.data(), text.size());
      };
      auto offset = log->append_in_place(text.size(), static_cast<std::int64_t>(i), write);
      REQUIRE(offset);
      CHECK(*offset == i);
      CHECK(calls == 1);
    }
    CHECK(log->segment_count() > 1);
  }
  auto log = open_log(dir.path(), small_segments());
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == 50);
  for (std::uint64_t i = 0; i < 50; ++i) CHECK(records[i] == payload_for(i, 100 + i));
}

TEST_CASE("append_in_place never calls the writer nor the completion for a refused record") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  bool wrote = false, completed = false;
  auto write = [&](std::span<std::byte>) noexcept { wrote = true; };
  auto r = log->append_in_place(5000, 1, write, [&](Status) { completed = true; });
  CHECK(r.code() == Errc::payload_too_large);
  CHECK_FALSE(wrote);
  CHECK_FALSE(completed);
  CHECK(log->end_offset() == 0);
}

TEST_CASE("thousands of segments hold a bounded number of mappings and no file descriptors") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(1024);
  o.max_read_mappings = 4;
  auto log = open_log(dir.path(), o);
  const std::size_t fds_before = open_fds();
  append_n(*log, 0, 30 * 1000 / 10, 100);  // ~8 records per segment
  CHECK(log->segment_count() > 300);
  CHECK(read_all_records(*log).size() == 3000);
  CHECK(log->mapped_segments() <= 5);
  CHECK(open_fds() == fds_before);
}

TEST_CASE("a read batch stays valid after its segment is deleted") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 200);
  auto batch = log->read(0, 10);
  REQUIRE(batch);
  REQUIRE(log->truncate_prefix(150));
  CHECK(log->start_offset() > 0);
  for (std::uint64_t i = 0; i < batch->records.size(); ++i) {
    CHECK(text_of(batch->records[i].body) == payload_for(i));
  }
}

TEST_CASE("truncate_prefix deletes only segments wholly below the offset") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 200);
  const auto segments = log->segment_count();
  auto deleted = log->truncate_prefix(100);
  REQUIRE(deleted);
  CHECK(*deleted > 0);
  CHECK(log->segment_count() == segments - *deleted);
  CHECK(log->start_offset() <= 100);
  CHECK(log->read(log->start_offset()));
  CHECK(log->read(0).code() == Errc::out_of_range);
  auto rest = read_all_records(*log, 100);
  CHECK(rest.size() == 100);
  // Reopen: the deleted prefix stays deleted, offsets continue.
  const auto start = log->start_offset();
  log.reset();
  log = open_log(dir.path(), small_segments());
  CHECK(log->start_offset() == start);
  CHECK(log->end_offset() == 200);
}

TEST_CASE("truncate_prefix never deletes the active segment") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 5);
  auto deleted = log->truncate_prefix(5);
  REQUIRE(deleted);
  CHECK(*deleted == 0);
  CHECK(log->segment_count() == 1);
}

TEST_CASE("retention by record count keeps at least the limit and deletes whole segments") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 500);
  REQUIRE(log->apply_retention({.max_records = 100}));
  const auto kept = log->end_offset() - log->start_offset();
  CHECK(kept >= 100);
  CHECK(kept < 200);
}

TEST_CASE("retention by bytes keeps at least the limit") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 500);
  REQUIRE(log->apply_retention({.max_bytes = 8000}));
  CHECK(log->size_bytes() >= 8000);
  CHECK(log->size_bytes() < 8000 + 4096);
}

TEST_CASE("retention by age deletes segments whose newest record is older than the limit") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  SegmentLogOptions o = small_segments();
  o.clock = clock;
  auto log = open_log(dir.path(), o);
  const std::int64_t now = clock->wall_now().time_since_epoch().count();
  for (int i = 0; i < 300; ++i) {
    // The first 200 records are two hours old, the rest fresh.
    const std::int64_t ts = i < 200 ? now - std::int64_t{7200} * 1'000'000'000 : now;
    REQUIRE(log->append(bytes_of(payload_for(i)), ts));
  }
  REQUIRE(log->apply_retention({.max_age = 1h}));
  CHECK(log->start_offset() > 100);
  CHECK(log->start_offset() <= 200);
  clock->advance(2h);
  REQUIRE(log->apply_retention({.max_age = 1h}));
  CHECK(log->segment_count() == 1);
}

TEST_CASE("offset_for_timestamp finds the first record at or after a timestamp") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  append_n(*log, 0, 300);  // timestamp = offset * 10
  CHECK(*log->offset_for_timestamp(0) == 0);
  CHECK(*log->offset_for_timestamp(1005) == 101);
  CHECK(*log->offset_for_timestamp(1010) == 101);
  CHECK(*log->offset_for_timestamp(2990) == 299);
  CHECK(*log->offset_for_timestamp(5000) == 300);
}

TEST_CASE("a torn tail is truncated on reopen - reported - and appends continue after it") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 20);
  }
  // Tear the last record: zero its size field (the publication step never happened).
  auto file = test::segment_files(dir.path()).back();
  auto bytes = test::read_all(file);
  {
    auto log = open_log(dir.path(), small_segments());  // find where record 19 starts
    auto batch = log->read(19, 1);
    REQUIRE(batch);
  }
  std::size_t pos = segment::kFileHeaderSize;
  std::size_t last = pos;
  while (load<std::uint32_t>(bytes.data() + pos + segment::kSizeOffset) != 0) {
    last = pos;
    pos += segment::align_up(load<std::uint32_t>(bytes.data() + pos + segment::kSizeOffset));
  }
  store<std::uint32_t>(bytes.data() + last + segment::kSizeOffset, 0);
  test::write_all(file, bytes);

  auto log = open_log(dir.path(), small_segments());
  CHECK(log->end_offset() == 19);
  CHECK(log->recovery_stats().truncated_bytes > 0);
  REQUIRE(log->recovery_stats().events.size() == 1);
  CHECK_THAT(log->recovery_stats().events[0], Catch::Contains("torn tail"));
  append_n(*log, 19, 5);
  log.reset();
  log = open_log(dir.path(), small_segments());
  CHECK(log->end_offset() == 24);
  CHECK(log->recovery_stats().truncated_bytes == 0);
  CHECK(read_all_records(*log).size() == 24);
}

TEST_CASE("a half-created last segment (killed while rolling) is removed on reopen") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 50);
  }
  test::write_all(dir / segment::file_name(50), std::vector<std::byte>(4096));
  auto log = open_log(dir.path(), small_segments());
  CHECK(log->recovery_stats().removed_segments == 1);
  CHECK(log->end_offset() == 50);
  append_n(*log, 50, 100);
  CHECK(read_all_records(*log).size() == 150);
}

TEST_CASE("corruption in a sealed segment is a corrupt error naming the file and offset") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 200);
  }
  const auto file = test::segment_files(dir.path()).front();
  test::flip_bit(file, segment::kFileHeaderSize + 30);
  auto log = SegmentLog::open(dir.path(), small_segments());
  REQUIRE_FALSE(log);
  CHECK(log.code() == Errc::corrupt);
  CHECK_THAT(log.message(), Catch::Contains(file.string()) && Catch::Contains("offset 64"));
}

TEST_CASE("salvage mode skips a corrupt record in a sealed segment and counts it") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 200);
  }
  const auto file = test::segment_files(dir.path()).front();
  test::flip_bit(file, segment::kFileHeaderSize + segment::record_footprint(40) + 30);
  SegmentLogOptions o = small_segments();
  o.salvage = true;
  auto log = open_log(dir.path(), o);
  CHECK(log->recovery_stats().corrupt_regions_skipped == 1);
  CHECK(log->recovery_stats().corrupt_bytes_skipped == segment::record_footprint(40));
  const auto records = read_all_records(*log);
  CHECK(records.size() == 199);
  CHECK(records[0] == payload_for(0));
  CHECK(records[1] == payload_for(2));
}

TEST_CASE("damage in the middle of the last segment with valid records after it is corrupt") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 10);
  }
  const auto file = test::segment_files(dir.path()).back();
  test::flip_bit(file, segment::kFileHeaderSize + 30);
  auto log = SegmentLog::open(dir.path(), small_segments());
  REQUIRE_FALSE(log);
  CHECK(log.code() == Errc::corrupt);
  CHECK_THAT(log.message(), Catch::Contains("not a torn tail"));
}

TEST_CASE("a missing segment in the middle of a stream is corrupt") {
  ScratchDir dir;
  {
    auto log = open_log(dir.path(), small_segments());
    append_n(*log, 0, 200);
  }
  std::filesystem::remove(test::segment_files(dir.path())[1]);
  auto log = SegmentLog::open(dir.path(), small_segments());
  REQUIRE_FALSE(log);
  CHECK_THAT(log.message(), Catch::Contains("missing"));
}

TEST_CASE("with durability none a completion fires before append returns") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments());
  bool fired = false;
  REQUIRE(log->append(bytes_of("x"), 1, [&](Status s) { fired = s.has_value(); }));
  CHECK(fired);
}

TEST_CASE("with durability always append returns with the record synced") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments();
  o.durability = Durability::always;
  auto log = open_log(dir.path(), o);
  for (int i = 0; i < 20; ++i) {
    auto offset = log->append(bytes_of(payload_for(i, 200)), i);
    REQUIRE(offset);
    CHECK(log->synced_offset() > *offset);
  }
}

TEST_CASE("with durability batch completions fire once their records are synced") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(1 << 20);
  o.durability = Durability::batch;
  o.sync_interval = 2ms;
  o.sync_bytes = 1 << 30;  // the interval triggers the syncs here
  auto log = open_log(dir.path(), o);
  Latch latch;
  std::atomic<int> ok{0};
  constexpr int kRecords = 200;
  for (int i = 0; i < kRecords; ++i) {
    auto offset = log->append(bytes_of(payload_for(i)), i, [&, i](Status s) {
      if (s && log->synced_offset() > static_cast<std::uint64_t>(i)) ok.fetch_add(1);
      latch.count_down();
    });
    REQUIRE(offset);
  }
  REQUIRE(latch.wait_for(kRecords));
  CHECK(ok.load() == kRecords);
}

TEST_CASE(
    "with durability batch crossing sync_bytes triggers a sync without waiting the interval") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(1 << 20);
  o.durability = Durability::batch;
  o.sync_interval = 1h;
  o.sync_bytes = 1024;
  auto log = open_log(dir.path(), o);
  Latch latch;
  for (int i = 0; i < 40; ++i) {
    REQUIRE(log->append(bytes_of(payload_for(i, 100)), i, [&](Status s) {
      if (s) latch.count_down();
    }));
  }
  // 40 x 128 bytes crosses 1024 several times; the tail below the threshold waits for close.
  REQUIRE(latch.wait_for(8));
  log.reset();  // closing syncs the rest
  CHECK(latch.wait_for(40, 1s));
}

TEST_CASE("after a failed sync the log is read-only and every pending and later append fails") {
  ScratchDir dir;
  Faults faults;
  SegmentLogOptions o = small_segments(1 << 20);
  o.durability = Durability::batch;
  o.sync_interval = 1h;
  o.sync_bytes = 1 << 30;
  o.faults = &faults;
  auto log = open_log(dir.path(), o);
  std::atomic<int> failed{0};
  for (int i = 0; i < 10; ++i) {
    REQUIRE(log->append(bytes_of(payload_for(i)), i, [&](Status s) {
      if (s.code() == Errc::io_error) failed.fetch_add(1);
    }));
  }
  faults.fail_next_sync = EIO;
  auto status = log->sync();
  CHECK(status.code() == Errc::io_error);
  CHECK_THAT(status.message(), Catch::Contains(".seg"));
  CHECK(failed.load() == 10);
  CHECK(log->read_only());
  auto later = log->append(bytes_of("after"), 1);
  CHECK(later.code() == Errc::io_error);
  CHECK(log->sync().code() == Errc::io_error);  // never retried into a false success
  auto batch = log->read(0, 100);               // reads still work
  REQUIRE(batch);
  CHECK(batch->records.size() == 10);
}

TEST_CASE("with durability always a failed sync fails that append") {
  ScratchDir dir;
  Faults faults;
  SegmentLogOptions o = small_segments();
  o.durability = Durability::always;
  o.faults = &faults;
  auto log = open_log(dir.path(), o);
  REQUIRE(log->append(bytes_of("fine"), 1));
  faults.fail_next_sync = EIO;
  CHECK(log->append(bytes_of("fails"), 2).code() == Errc::io_error);
  CHECK(log->append(bytes_of("still fails"), 3).code() == Errc::io_error);
}

TEST_CASE("an injected allocation failure is disk_full and appends resume when space returns") {
  ScratchDir dir;
  Faults faults;
  SegmentLogOptions o = small_segments();
  o.faults = &faults;
  auto log = open_log(dir.path(), o);
  std::uint64_t accepted = 0;
  faults.fail_allocations = ENOSPC;
  Result<std::uint64_t> r = std::uint64_t{0};
  for (int i = 0; i < 200 && r; ++i) {
    r = log->append(bytes_of(payload_for(accepted)), 1);
    if (r) ++accepted;
  }
  REQUIRE_FALSE(r);
  CHECK(r.code() == Errc::disk_full);
  CHECK_THAT(r.message(), Catch::Contains("reserving"));
  CHECK(log->append(bytes_of("x"), 1).code() == Errc::disk_full);
  faults.fail_allocations = 0;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(log->append(bytes_of(payload_for(accepted)), 1));
    ++accepted;
  }
  log.reset();
  log = open_log(dir.path(), small_segments());
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == accepted);
  for (std::uint64_t i = 0; i < accepted; ++i) CHECK(records[i] == payload_for(i));
}

TEST_CASE("concurrent appenders and a reader see every record exactly once - in offset order") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(64 * 1024);
  o.durability = Durability::batch;
  o.sync_interval = 1ms;
#ifdef SWITCHYARD_SANITIZER_BUILD
  constexpr int kPerThread = 500;
#else
  constexpr int kPerThread = 5000;
#endif
  auto log = open_log(dir.path(), o);
  std::atomic<int> completions{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r =
            log->append(bytes_of(std::to_string(t) + ":" + std::to_string(i)), i, [&](Status s) {
              if (s) completions.fetch_add(1, std::memory_order_relaxed);
            });
        if (!r) errors.fetch_add(1, std::memory_order_relaxed);  // checked on the main thread
      }
    });
  }
  std::uint64_t next = 0;
  std::vector<int> last_seen(2, -1);
  while (next < 2 * kPerThread && errors.load(std::memory_order_relaxed) == 0) {
    auto batch = log->read(next, 256);
    REQUIRE(batch);
    for (const auto& r : batch->records) {
      REQUIRE(r.offset == next++);
      const auto text = text_of(r.body);
      const int t = text[0] - '0';
      const int i = std::stoi(text.substr(2));
      REQUIRE(i == last_seen[t] + 1);  // per-producer order
      last_seen[t] = i;
    }
    if (batch->records.empty()) std::this_thread::yield();
  }
  for (auto& w : writers) w.join();
  REQUIRE(errors.load() == 0);
  log.reset();
  CHECK(completions.load() == 2 * kPerThread);
}

TEST_CASE("with durability none an explicit sync covers segments sealed since the last sync") {
  struct Recorder : FaultInjector {
    std::mutex m;
    std::set<std::string> synced;
    int on_sync(std::string_view path) noexcept override {
      std::lock_guard lock(m);
      synced.emplace(path);
      return 0;
    }
  } recorder;
  ScratchDir dir;
  SegmentLogOptions o = small_segments();
  o.faults = &recorder;
  auto log = open_log(dir.path(), o);
  append_n(*log, 0, 200);
  const auto segments = log->segment_count();
  REQUIRE(segments > 3);
  CHECK(recorder.synced.empty());  // none: no sync on the append path
  REQUIRE(log->sync());
  CHECK(recorder.synced.size() == segments);
  CHECK(log->synced_offset() == 200);
}

// ---------------------------------------------------------------------------------------------
// Sizing: a growing segment reserves space as it fills; the reservation comes before the write.

namespace {

struct FileUse {
  std::uint64_t size = 0;       // st_size
  std::uint64_t allocated = 0;  // st_blocks * 512
};

FileUse file_use(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return {static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_blocks) * 512};
}

}  // namespace

TEST_CASE(
    "a growing segment reserves a first extent and doubles it as it fills up to segment_bytes") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(1 << 20);
  REQUIRE(first_extent(o.segment_bytes) == 64 * 1024);
  auto log = open_log(dir.path(), o);
  const auto first = test::segment_files(dir.path()).front();
  CHECK(file_use(first).size == 64 * 1024);
  CHECK(file_use(first).allocated >= 64 * 1024);  // reserved, not a hole
  std::vector<std::uint64_t> sizes{file_use(first).size};
  std::uint64_t n = 0;
  while (log->segment_count() == 1) {
    append_n(*log, n, 1, 1000);
    ++n;
    if (log->segment_count() == 1 && file_use(first).size != sizes.back()) {
      sizes.push_back(file_use(first).size);
    }
  }
  CHECK(sizes == std::vector<std::uint64_t>{64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20});
  // The new segment starts small again.
  CHECK(file_use(test::segment_files(dir.path()).back()).size == 64 * 1024);
  log.reset();
  log = open_log(dir.path(), o);
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == n);
  for (std::uint64_t i = 0; i < n; ++i) CHECK(records[i] == payload_for(i, 1000));
  CHECK(log->recovery_stats().truncated_bytes == 0);
  CHECK(log->recovery_stats().events.empty());
}

TEST_CASE("a record larger than the reserved space grows the segment to hold it at once") {
  ScratchDir dir;
  auto log = open_log(dir.path(), small_segments(1 << 20));
  append_n(*log, 0, 1, 300 * 1024);
  const auto file = test::segment_files(dir.path()).front();
  CHECK(file_use(file).size >= 300 * 1024);
  CHECK(file_use(file).size <= 512 * 1024);
  append_n(*log, 1, 1, 40);
  log.reset();
  log = open_log(dir.path(), small_segments(1 << 20));
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == 2);
  CHECK(records[0] == payload_for(0, 300 * 1024));
}

TEST_CASE("a preallocated segment reserves all of segment_bytes when it is created") {
  ScratchDir dir;
  SegmentLogOptions o = small_segments(1 << 20);
  o.preallocate = true;
  auto log = open_log(dir.path(), o);
  const auto file = test::segment_files(dir.path()).front();
  CHECK(file_use(file).size == 1 << 20);
  CHECK(file_use(file).allocated >= 1 << 20);
}

TEST_CASE(
    "an injected fallocate failure while a segment grows is disk_full - nothing accepted is lost "
    "- and recovery is clean") {
  ScratchDir dir;
  Faults faults;
  SegmentLogOptions o = small_segments(1 << 20);
  o.faults = &faults;
  auto log = open_log(dir.path(), o);
  const auto file = test::segment_files(dir.path()).front();
  faults.fail_allocations = ENOSPC;  // from now on: the first extent is all there is
  std::uint64_t accepted = 0;
  Result<std::uint64_t> r = std::uint64_t{0};
  for (int i = 0; i < 1000 && r; ++i) {
    r = log->append(bytes_of(payload_for(accepted, 1000)), 1);
    if (r) ++accepted;
  }
  REQUIRE_FALSE(r);
  CHECK(r.code() == Errc::disk_full);
  CHECK_THAT(r.message(), Catch::Contains("reserving"));
  CHECK(accepted == (64 * 1024 - segment::kFileHeaderSize) / segment::record_footprint(1000));
  CHECK(file_use(file).size == 64 * 1024);  // nothing was written past the reservation
  CHECK(log->append(bytes_of(payload_for(accepted, 1000)), 1).code() == Errc::disk_full);
  faults.fail_allocations = 0;  // space returns: the same append goes through, the log grows
  for (int i = 0; i < 200; ++i) {
    REQUIRE(log->append(bytes_of(payload_for(accepted, 1000)), 1));
    ++accepted;
  }
  CHECK(file_use(file).size > 64 * 1024);
  log.reset();
  log = open_log(dir.path(), small_segments(1 << 20));
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == accepted);
  for (std::uint64_t i = 0; i < accepted; ++i) CHECK(records[i] == payload_for(i, 1000));
  CHECK(log->recovery_stats().truncated_bytes == 0);
  CHECK(log->recovery_stats().events.empty());
}

TEST_CASE(
    "a log reopened with another segment size and policy reads every segment and appends after "
    "them") {
  ScratchDir dir;
  std::uint64_t n = 0;
  auto write = [&](std::uint64_t segment_bytes, bool preallocate, std::uint64_t records) {
    SegmentLogOptions o = small_segments(segment_bytes);
    o.preallocate = preallocate;
    auto log = open_log(dir.path(), o);
    REQUIRE(read_all_records(*log).size() == n);
    append_n(*log, n, records, 500);
    n += records;
  };
  write(64 * 1024, false, 300);  // 4 KiB first extent, several segments
  write(1 << 20, true, 300);     // the last 64 KiB segment becomes 1 MiB (its capacity)
  write(16 * 1024, false, 300);  // back to small segments after a large one
  write(1 << 20, false, 10);
  auto log = open_log(dir.path(), small_segments(8192));
  const auto records = read_all_records(*log);
  REQUIRE(records.size() == n);
  for (std::uint64_t i = 0; i < n; ++i) CHECK(records[i] == payload_for(i, 500));
  CHECK(log->recovery_stats().events.empty());
}

TEST_CASE("append_deferred waits for no sync at always: the next append's sync covers it") {
  struct CountSyncs final : FaultInjector {
    std::atomic<int> syncs{0};
    int on_sync(std::string_view) noexcept override {
      syncs.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
  } counter;
  ScratchDir dir;
  SegmentLogOptions o = small_segments(64 * 1024);
  o.durability = Durability::always;
  o.faults = &counter;
  auto log = open_log(dir.path(), o);
  REQUIRE(*log->append(bytes_of("first"), 1) == 0);
  const int syncs = counter.syncs.load();
  REQUIRE(*log->append_deferred(bytes_of("deferred"), 2) == 1);
  CHECK(counter.syncs.load() == syncs);  // no sync paid
  CHECK(log->synced_offset() == 1);      // and none claimed
  CHECK(read_all_records(*log) == std::vector<std::string>{"first", "deferred"});
  REQUIRE(*log->append(bytes_of("third"), 3) == 2);
  CHECK(counter.syncs.load() > syncs);
  CHECK(log->synced_offset() == 3);  // the deferred record rode along
}
