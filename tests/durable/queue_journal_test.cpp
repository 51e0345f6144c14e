#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <map>
#include <mutex>

#include "durable/queue_journal.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::bytes_of;
using switchyard::test::payload_for;
using switchyard::test::ScratchDir;
using switchyard::test::text_of;

namespace {

QueueJournalOptions small() {
  QueueJournalOptions o;
  o.log.segment_bytes = 4096;
  o.settlement_segment_bytes = 4096;
  o.compact_bytes = 2048;
  return o;
}

std::unique_ptr<QueueJournal> open_journal(const std::filesystem::path& dir,
                                           QueueJournalOptions o = small()) {
  auto j = QueueJournal::open(dir, std::move(o));
  if (!j) FAIL("open failed: " << j.message());
  return std::move(*j);
}

StoredMessage message(std::uint64_t n) {
  StoredMessage m;
  m.id = n;
  m.timestamp_ns = static_cast<std::int64_t>(n);
  m.key = fmt::format("k{}", n);
  m.headers = {{"n", std::to_string(n)}};
  m.payload = bytes_of(payload_for(n));
  return m;
}

std::vector<std::uint64_t> seqs(const std::vector<RecoveredMessage>& recovered) {
  std::vector<std::uint64_t> out;
  for (const auto& r : recovered) out.push_back(r.seq);
  return out;
}

}  // namespace

TEST_CASE("after a restart exactly the unacknowledged messages come back - in seq order") {
  ScratchDir dir;
  {
    auto j = open_journal(dir.path());
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(*j->append(fields_of(message(i))) == i);
    REQUIRE(j->record_ack(0));
    REQUIRE(j->record_ack(3));
    REQUIRE(j->record_dead_letter(5));
    REQUIRE(j->record_drop(9));
  }
  auto j = open_journal(dir.path());
  auto recovered = j->recover();
  REQUIRE(recovered);
  CHECK(seqs(*recovered) == std::vector<std::uint64_t>{1, 2, 4, 6, 7, 8});
  for (const auto& r : *recovered) CHECK(r.message == message(r.seq));
  CHECK(j->floor() == 1);
  CHECK(j->end_seq() == 10);
}

TEST_CASE("attempt counts survive a restart") {
  ScratchDir dir;
  {
    auto j = open_journal(dir.path());
    for (std::uint64_t i = 0; i < 3; ++i) REQUIRE(j->append(fields_of(message(i))));
    REQUIRE(j->record_delivery(0, 1));
    REQUIRE(j->record_delivery(0, 2));
    REQUIRE(j->record_delivery(1, 1));
    REQUIRE(j->record_delivery(2, 1));
    REQUIRE(j->record_ack(2));
  }
  auto j = open_journal(dir.path());
  auto recovered = j->recover();
  REQUIRE(recovered);
  REQUIRE(recovered->size() == 2);
  CHECK((*recovered)[0].attempts == 2);
  CHECK((*recovered)[1].attempts == 1);
}

TEST_CASE("message segments wholly below the lowest unacknowledged seq are deleted") {
  ScratchDir dir;
  auto j = open_journal(dir.path());
  for (std::uint64_t i = 0; i < 300; ++i) REQUIRE(j->append(fields_of(message(i))));
  const auto segments = j->messages().segment_count();
  for (std::uint64_t i = 0; i < 250; ++i) REQUIRE(j->record_ack(i));
  CHECK(j->floor() == 250);
  CHECK(j->messages().segment_count() < segments);
  CHECK(j->messages().start_offset() <= 250);
  CHECK(j->messages().start_offset() > 0);
  auto recovered = j->recover();
  REQUIRE(recovered);
  CHECK(recovered->size() == 50);
}

TEST_CASE("in a steady flow (append one, ack one) the message log keeps at most two segments") {
  // The journal asks the log to truncate only when the floor reaches the first segment's end
  // or the log rolled: every roll must still be followed by the deletion of what lies below.
  ScratchDir dir;
  auto j = open_journal(dir.path());
  std::size_t most = 0;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    REQUIRE(j->append(fields_of(message(i))));
    REQUIRE(j->record_ack(i));
    most = std::max(most, j->messages().segment_count());
  }
  INFO("segments at the end: " << j->messages().segment_count() << ", start offset "
                               << j->messages().start_offset());
  CHECK(most <= 2);
  CHECK(j->messages().start_offset() > 1500);
}

TEST_CASE("out-of-order acks hold the floor until the gap is acked") {
  ScratchDir dir;
  auto j = open_journal(dir.path());
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(j->append(fields_of(message(i))));
  REQUIRE(j->record_ack(1));
  REQUIRE(j->record_ack(2));
  CHECK(j->floor() == 0);
  REQUIRE(j->record_ack(0));
  CHECK(j->floor() == 3);
}

TEST_CASE("the settlement log is compacted so it does not grow forever") {
  ScratchDir dir;
  std::uint64_t compactions = 0;
  {
    auto j = open_journal(dir.path());
    for (std::uint64_t i = 0; i < 2000; ++i) {
      REQUIRE(j->append(fields_of(message(i))));
      REQUIRE(j->record_delivery(i, 1));
      if (i % 10 != 0) REQUIRE(j->record_ack(i));  // every tenth stays unacked
    }
    compactions = j->compactions();
    CHECK(compactions > 5);
    // Bounded by twice the snapshot of 200 live messages (40 bytes each), not by 4000 records.
    CHECK(j->settlement_bytes() <= 2 * 200 * 40 + 4096);
  }
  auto j = open_journal(dir.path());
  auto recovered = j->recover();
  REQUIRE(recovered);
  REQUIRE(recovered->size() == 200);
  for (std::size_t k = 0; k < recovered->size(); ++k) {
    CHECK((*recovered)[k].seq == k * 10);
    CHECK((*recovered)[k].attempts == 1);
  }
  std::size_t generations = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    generations += e.path().filename().string().starts_with("acks-");
  }
  CHECK(generations == 1);
}

TEST_CASE("a compaction cut short by a crash is ignored: the previous generation wins") {
  ScratchDir dir;
  {
    auto j = open_journal(dir.path());
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(j->append(fields_of(message(i))));
    REQUIRE(j->record_ack(1));
  }
  // A newer generation without its snapshot_complete record: what a crash mid-compaction
  // leaves. It claims seq 2 is acked; it must not count.
  {
    SegmentLogOptions o;
    o.segment_bytes = 4096;
    o.owner.role = StreamRole::settlements;  // as the journal's own settlement logs are
    auto partial = SegmentLog::open(dir / "acks-99", o);
    REQUIRE(partial);
    std::byte body[kSettlementSize];
    encode_settlement(Settlement::floor, 3, 0, body);
    REQUIRE((*partial)->append(body, 0));
  }
  auto j = open_journal(dir.path());
  auto recovered = j->recover();
  REQUIRE(recovered);
  CHECK(seqs(*recovered) == std::vector<std::uint64_t>{0, 2, 3});
  CHECK_FALSE(std::filesystem::exists(dir / "acks-99"));
  // ... and says so in its recovery report.
  REQUIRE(j->settlement_recovery().events.size() == 1);
  CHECK_THAT(j->settlement_recovery().events.front(),
             Catch::Contains("acks-99") && Catch::Contains("discarded"));
}

TEST_CASE(
    "a settlement record naming a seq far past the message log is stale - the replay stays "
    "small and fast") {
  ScratchDir dir;
  {
    auto j = open_journal(dir.path());
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(j->append(fields_of(message(i))));
    REQUIRE(j->record_ack(1));
  }
  // CRC-valid records naming seqs around 2^40 (damage, or a log from elsewhere; found by
  // fuzz_queue_journal): the replay used to track every seq up to them, one map node each.
  {
    std::filesystem::path generation;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.is_directory() && e.path().filename() != "messages") generation = e.path();
    }
    SegmentLogOptions o;
    o.segment_bytes = small().settlement_segment_bytes;
    o.owner.role = StreamRole::settlements;  // as the journal's own settlement logs are
    auto log = SegmentLog::open(generation, o);
    REQUIRE(log);
    std::byte body[kSettlementSize];
    encode_settlement(Settlement::acked, std::uint64_t{1} << 40, 0, body);
    REQUIRE((*log)->append(body, 0));
    encode_settlement(Settlement::delivered, (std::uint64_t{1} << 40) + 5, 3, body);
    REQUIRE((*log)->append(body, 0));
  }
  // The reopen runs in a child with bounded memory (none under a sanitizer, whose shadow
  // needs the address space) and time, so a regression fails this test, not the machine.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
#ifndef SWITCHYARD_SANITIZER_BUILD
    const rlimit limit{512u << 20, 512u << 20};
    ::setrlimit(RLIMIT_AS, &limit);
#endif
    ::alarm(20);
    try {
      auto j = QueueJournal::open(dir.path(), small());
      if (!j) ::_exit(2);
      auto recovered = (*j)->recover();
      ::_exit(recovered && seqs(*recovered) == std::vector<std::uint64_t>{0, 2, 3} ? 0 : 3);
    } catch (...) {
      ::_exit(4);
    }
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("child status " << status << (WIFSIGNALED(status) ? " (killed by a signal)" : ""));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);  // (else the reopen below would run unbounded)
  // The reopen wrote a fresh snapshot without the stale records.
  auto j = open_journal(dir.path());
  auto recovered = j->recover();
  REQUIRE(recovered);
  CHECK(seqs(*recovered) == std::vector<std::uint64_t>{0, 2, 3});
  REQUIRE(j->append(fields_of(message(4))));
  CHECK(j->end_seq() == 5);
}

TEST_CASE("settling a seq that was never appended is out_of_range") {
  ScratchDir dir;
  auto j = open_journal(dir.path());
  REQUIRE(j->append(fields_of(message(0))));
  CHECK(j->record_ack(1).code() == Errc::out_of_range);
}

TEST_CASE("a batch-durability journal fires completions for messages and acks") {
  ScratchDir dir;
  auto o = small();
  o.log.durability = Durability::batch;
  o.log.sync_bytes = 1;  // every append crosses it
  // Atomic: the two completions belong to the journal's two logs (messages, settlements), so
  // one may fire on the flusher's thread while the other fires in the closing thread.
  std::atomic<int> fired = 0;
  {
    auto j = open_journal(dir.path(), o);
    REQUIRE(j->append(fields_of(message(0)), [&](Status s) { fired += s.has_value(); }));
    REQUIRE(j->record_ack(0, [&](Status s) { fired += s.has_value(); }));
  }  // closing syncs whatever is still pending
  CHECK(fired == 2);
}

TEST_CASE(
    "a journal refuses a message with more headers than a record holds - it never stores one it "
    "cannot read back") {
  ScratchDir dir;
  QueueJournalOptions o = small();
  o.log.segment_bytes = 2u << 20;
  auto j = open_journal(dir.path(), o);
  StoredMessage most = message(1);
  most.headers.assign(65535, {"h", "v"});
  REQUIRE(j->append(fields_of(most)));
  StoredMessage too_many = message(2);
  too_many.headers.assign(65536, {"h", "v"});
  auto refused = j->append(fields_of(too_many));
  CHECK(refused.code() == Errc::invalid_argument);
  CHECK(j->end_seq() == 1);
  auto recovered = j->recover();
  REQUIRE(recovered);
  REQUIRE(recovered->size() == 1);
  CHECK((*recovered)[0].message.headers.size() == 65535);
}

// --- dedup ids (issue 15): kept for their window, settled or not ----------------------------

namespace {
/// Message `n` sent with dedup id "d<n>", its window ending `window` after `clock`'s now.
StoredMessage deduplicated(std::uint64_t n, const ManualClock& clock, Duration window) {
  StoredMessage m = message(n);
  m.timestamp_ns = clock.wall_now().time_since_epoch().count();
  m.dedup_id = fmt::format("d{}", n);
  m.dedup_until_ns = m.timestamp_ns + window.count();
  return m;
}
}  // namespace

TEST_CASE("a segment holding a dedup id within its window outlives its settled messages") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  QueueJournalOptions o = small();
  o.log.clock = clock;
  auto j = open_journal(dir.path(), o);
  REQUIRE(*j->append(fields_of(deduplicated(0, *clock, std::chrono::minutes(1)))) == 0);
  for (std::uint64_t i = 1; i < 300; ++i) REQUIRE(j->append(fields_of(message(i))));
  for (std::uint64_t i = 0; i < 300; ++i) REQUIRE(j->record_ack(i));
  CHECK(j->floor() == 300);
  CHECK(j->messages().start_offset() == 0);  // held: "d0" is still within its window
  {
    const auto ids = j->recover_dedup();
    REQUIRE(ids.size() == 1);
    CHECK(ids[0].id == "d0");
    CHECK(ids[0].message_id == 0);
  }
  clock->advance(std::chrono::minutes(1));
  REQUIRE(*j->append(fields_of(message(300))) == 300);
  REQUIRE(j->record_ack(300));
  CHECK(j->messages().start_offset() > 0);  // the window ended: the hold is gone
  CHECK(j->recover_dedup().empty());
}

TEST_CASE("dedup ids of settled messages are recovered after a restart until their window ends") {
  ScratchDir dir;
  auto clock = std::make_shared<ManualClock>();
  QueueJournalOptions o = small();
  o.log.clock = clock;
  {
    auto j = open_journal(dir.path(), o);
    REQUIRE(j->append(fields_of(deduplicated(0, *clock, std::chrono::minutes(1)))));
    REQUIRE(j->append(fields_of(deduplicated(1, *clock, std::chrono::minutes(2)))));
    for (std::uint64_t i = 2; i < 300; ++i) REQUIRE(j->append(fields_of(message(i))));
    for (std::uint64_t i = 0; i < 300; ++i) REQUIRE(j->record_ack(i));
  }
  clock->advance(std::chrono::seconds(90));
  auto j = open_journal(dir.path(), o);
  auto recovered = j->recover();
  REQUIRE(recovered);
  CHECK(recovered->empty());
  const auto ids = j->recover_dedup();
  REQUIRE(ids.size() == 1);  // "d0"'s window ended before the reopen
  CHECK(ids[0].id == "d1");
  CHECK(ids[0].message_id == 1);
  CHECK(ids[0].offset == 1);
  // The rebuilt hold keeps "d1"'s segment until its window ends, then lets it go.
  REQUIRE(*j->append(fields_of(message(300))) == 300);
  REQUIRE(j->record_ack(300));
  CHECK(j->messages().start_offset() == 0);
  clock->advance(std::chrono::seconds(30));
  REQUIRE(j->append(fields_of(message(301))));
  REQUIRE(j->record_ack(301));
  CHECK(j->messages().start_offset() > 0);
}

namespace {

/// Records what each msync made durable: the pages it covered, with their bytes at that
/// moment (read through the page cache). `power_cut_image` builds the files a power loss
/// right now could leave at the least: those pages, zeros everywhere else.
class SyncRecorder final : public FaultInjector {
 public:
  int on_call(const FileOp& op) noexcept override {
    if (op.call != FileCall::msync) return 0;
    constexpr std::uint64_t kPage = 4096;
    const std::uint64_t from = op.offset / kPage * kPage;
    const std::uint64_t to = (op.offset + op.length + kPage - 1) / kPage * kPage;
    std::vector<std::byte> now = switchyard::test::read_all(std::string(op.path));
    std::lock_guard lock(mutex_);
    ++syncs_;
    auto& pages = durable_[std::string(op.path)];
    if (pages.size() < to) pages.resize(to);
    for (std::uint64_t i = from; i < to; ++i) pages[i] = i < now.size() ? now[i] : std::byte{0};
    return 0;
  }
  std::uint64_t syncs() {
    std::lock_guard lock(mutex_);
    return syncs_;
  }
  /// Copies `dir` to `to` with every file cut back to what its syncs made durable.
  void power_cut_image(const std::filesystem::path& dir, const std::filesystem::path& to) {
    std::filesystem::copy(dir, to, std::filesystem::copy_options::recursive);
    std::lock_guard lock(mutex_);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      const auto it = durable_.find(entry.path().string());
      INFO(entry.path().string());
      REQUIRE(it != durable_.end());  // every file of an `always` journal was synced once
      std::vector<std::byte> bytes = it->second;
      bytes.resize(std::filesystem::file_size(entry.path()));
      switchyard::test::write_all(to / std::filesystem::relative(entry.path(), dir), bytes);
    }
  }

 private:
  std::mutex mutex_;
  std::uint64_t syncs_ = 0;
  std::map<std::string, std::vector<std::byte>> durable_;
};

std::map<std::uint64_t, std::uint32_t> attempts_in(const std::filesystem::path& dir,
                                                   QueueJournalOptions o) {
  auto j = open_journal(dir, std::move(o));
  auto recovered = j->recover();
  REQUIRE(recovered);
  std::map<std::uint64_t, std::uint32_t> out;
  for (const auto& r : *recovered) {
    CHECK(r.message == message(r.seq));
    out[r.seq] = r.attempts;
  }
  return out;
}

}  // namespace

TEST_CASE(
    "a first delivery's record waits for no sync: a process crash keeps its attempt count, a "
    "power loss before the next sync may lose it (one short), never a message") {
  ScratchDir dir;
  SyncRecorder recorder;
  QueueJournalOptions o = small();
  o.log.durability = Durability::always;
  QueueJournalOptions recording = o;
  recording.log.faults = &recorder;
  const std::filesystem::path q = dir / "q";
  using Attempts = std::map<std::uint64_t, std::uint32_t>;
  {
    auto j = open_journal(q, recording);
    REQUIRE(j->append(fields_of(message(0))));
    REQUIRE(j->append(fields_of(message(1))));
    const std::uint64_t syncs = recorder.syncs();
    REQUIRE(j->record_delivery(0, 1));
    CHECK(recorder.syncs() == syncs);  // the delivery paid no sync
    // A process crash now keeps the page cache: what the files hold as they are.
    std::filesystem::copy(q, dir / "crashed", std::filesystem::copy_options::recursive);
    recorder.power_cut_image(q, dir / "cut-before-ack");
    REQUIRE(j->record_ack(1));  // its sync covers the delivery record too
    CHECK(recorder.syncs() > syncs);
    recorder.power_cut_image(q, dir / "cut-after-ack");
    // A redelivery waits for its sync: a power cut keeps its count.
    const std::uint64_t before_redelivery = recorder.syncs();
    REQUIRE(j->record_delivery(0, 2));
    CHECK(recorder.syncs() > before_redelivery);
    recorder.power_cut_image(q, dir / "cut-after-redelivery");
  }
  CHECK(attempts_in(dir / "crashed", o) == Attempts{{0, 1}, {1, 0}});
  // One short, as queue_journal.hpp allows: only what was synced survived.
  CHECK(attempts_in(dir / "cut-before-ack", o) == Attempts{{0, 0}, {1, 0}});
  CHECK(attempts_in(dir / "cut-after-ack", o) == Attempts{{0, 1}});
  CHECK(attempts_in(dir / "cut-after-redelivery", o) == Attempts{{0, 2}});
}
