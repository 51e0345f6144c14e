// Fault injection for the storage layer: truncation at every byte, corruption by the
// thousand, a full disk (RLIMIT_FSIZE in a child), failed syncs. Each test prints one line of
// figures: faults injected and the accounting, with lost = 0.
#include <catch2/catch.hpp>

#include <csignal>
#include <random>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "durable/durable_partition_log.hpp"
#include "durable/queue_journal.hpp"
#include "storage/segment_log.hpp"
#include "support/figures.hpp"
#include "support/storage_support.hpp"
#include "switchyard/detail/message_body.hpp"
#include "util/access.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using namespace std::chrono_literals;
using switchyard::test::bytes_of;
using switchyard::test::payload_for;
using switchyard::test::ScratchDir;
using switchyard::test::text_of;

namespace {

using switchyard::test::kSanitizer;

struct Original {
  std::uint64_t offset;
  std::size_t position;  // in its segment file
  std::size_t size;      // header + body, unpadded
  std::string body;
};

std::vector<std::string> recovered_bodies(const SegmentLog& log) {
  std::vector<std::string> out;
  std::uint64_t from = log.start_offset();
  for (;;) {
    auto batch = log.read(from, 1000);
    if (!batch) FAIL("read after recovery failed: " << batch.message());
    if (batch->records.empty()) return out;
    for (const auto& r : batch->records) out.push_back(text_of(r.body));
    from = batch->next_offset;
  }
}

// Record sizes that vary, so cut points land in headers, bodies and padding alike.
std::string varied_body(std::uint64_t i) {
  return payload_for(i, 1 + (i * 37) % 200);
}

}  // namespace

TEST_CASE(
    "a segment cut at every byte of its last 4 KiB recovers exactly the records before "
    "the cut") {
  ScratchDir dir;
  SegmentLogOptions o;
  o.segment_bytes = 16 * 1024;
  std::vector<Original> originals;
  {
    auto log = SegmentLog::open(dir / "src", o);
    REQUIRE(log);
    std::size_t position = segment::kFileHeaderSize;
    for (std::uint64_t i = 0; i < 100; ++i) {
      const auto body = varied_body(i);
      if (position + segment::record_footprint(body.size()) > 8 * 1024) break;
      REQUIRE((*log)->append(bytes_of(body), static_cast<std::int64_t>(i)));
      originals.push_back({i, position, segment::kRecordHeaderSize + body.size(), body});
      position += segment::record_footprint(body.size());
    }
  }
  const auto file = test::segment_files(dir / "src").front();
  const auto image = test::read_all(file);
  const std::size_t data_end = originals.back().position + originals.back().size;
  REQUIRE(data_end > 4096);

  const std::size_t step = kSanitizer ? 3 : 1;
  std::size_t cuts = 0, truncations = 0;
  std::uint64_t recovered_total = 0;
  const auto work = dir / "work";
  for (std::size_t cut = data_end - 4096; cut <= data_end; cut += step) {
    std::filesystem::remove_all(work);
    std::filesystem::create_directories(work);
    test::write_all(work / file.filename(), std::span(image).first(cut));
    auto log = SegmentLog::open(work, o);
    REQUIRE(log);
    std::size_t expected = 0;
    while (expected < originals.size() &&
           originals[expected].position + originals[expected].size <= cut) {
      ++expected;
    }
    const auto bodies = recovered_bodies(**log);
    REQUIRE(bodies.size() == expected);
    for (std::size_t k = 0; k < expected; ++k) REQUIRE(bodies[k] == originals[k].body);
    // A cut inside a record's header or body leaves bytes that must be reported as truncated.
    const bool mid_record = expected < originals.size() && cut > originals[expected].position;
    if (mid_record) REQUIRE((*log)->recovery_stats().truncated_bytes > 0);
    truncations += (*log)->recovery_stats().truncated_bytes > 0;
    recovered_total += bodies.size();
    ++cuts;
    // Appends continue cleanly after the truncated tail.
    REQUIRE((*log)->append(bytes_of("after"), 0));
  }
  switchyard::test::print_figures("storage_truncation_sweep", {{"cut_images", cuts},
                                                               {"torn_tails", truncations},
                                                               {"recovered", recovered_total},
                                                               {"lost", 0}});
}

TEST_CASE(
    "10000 random bit flips - zeroed ranges and bogus lengths are all detected or "
    "harmless - never a crash") {
  ScratchDir dir;
  SegmentLogOptions o;
  o.segment_bytes = 4096;
  std::vector<std::string> originals;
  {
    auto log = SegmentLog::open(dir / "src", o);
    REQUIRE(log);
    for (std::uint64_t i = 0; i < 80; ++i) {
      originals.push_back(varied_body(i));
      REQUIRE((*log)->append(bytes_of(originals.back()), static_cast<std::int64_t>(i)));
    }
  }
  const auto files = test::segment_files(dir / "src");
  REQUIRE(files.size() >= 2);
  std::vector<std::vector<std::byte>> images;
  std::vector<std::size_t> data_ends;
  for (const auto& f : files) {
    images.push_back(test::read_all(f));
    std::size_t end = images.back().size();
    while (end > 0 && images.back()[end - 1] == std::byte{0}) --end;
    data_ends.push_back(end);
  }
  const auto work = dir / "work";
  std::filesystem::create_directories(work);
  auto restore = [&] {
    for (std::size_t i = 0; i < files.size(); ++i) {
      test::write_all(work / files[i].filename(), images[i]);
    }
  };
  restore();

  const int cases = kSanitizer ? 2000 : 10000;
  std::mt19937_64 rng(20240601);
  int flips = 0, zeroed = 0, lengths = 0, garbage = 0;
  int refused = 0, truncated = 0, salvaged_ok = 0, harmless = 0, zeroed_tail = 0;
  for (int c = 0; c < cases; ++c) {
    const std::size_t f = rng() % files.size();
    auto image = images[f];
    const std::size_t limit = data_ends[f] + 16;
    const std::size_t at = rng() % limit;
    switch (c % 4) {
      case 0:
        image[at] ^= static_cast<std::byte>(1u << (rng() % 8));
        ++flips;
        break;
      case 1: {
        const std::size_t n = 1 + rng() % 300;
        std::fill(image.begin() + static_cast<std::ptrdiff_t>(at),
                  image.begin() + static_cast<std::ptrdiff_t>(std::min(image.size(), at + n)),
                  std::byte{0});
        ++zeroed;
        break;
      }
      case 2: {
        // Overwrite a size field of a record (8-aligned positions past the header).
        std::size_t pos = segment::kFileHeaderSize + (at & ~std::size_t{7});
        if (pos + 8 > image.size()) pos = segment::kFileHeaderSize;
        const std::uint32_t bogus[] = {0,  1,           23,
                                       24, 0xFFFFFFFFu, static_cast<std::uint32_t>(rng())};
        store<std::uint32_t>(image.data() + pos + segment::kSizeOffset, bogus[rng() % 6]);
        ++lengths;
        break;
      }
      default: {
        const std::size_t n = 1 + rng() % 64;
        for (std::size_t k = at; k < std::min(image.size(), at + n); ++k) {
          image[k] = static_cast<std::byte>(rng());
        }
        ++garbage;
        break;
      }
    }
    const bool changed = image != images[f];
    test::write_all(work / files[f].filename(), image);

    auto log = SegmentLog::open(work, o);
    if (!log) {
      REQUIRE(log.code() == Errc::corrupt);
      REQUIRE_THAT(log.message(), Catch::Contains(work.string()));
      ++refused;
    } else {
      // Whatever recovery accepted is a prefix of what was written, byte for byte.
      const auto bodies = recovered_bodies(**log);
      REQUIRE(bodies.size() <= originals.size());
      for (std::size_t k = 0; k < bodies.size(); ++k) REQUIRE(bodies[k] == originals[k]);
      const auto& stats = (*log)->recovery_stats();
      if (stats.truncated_bytes > 0 || stats.removed_segments > 0) {
        ++truncated;
      } else if (bodies.size() == originals.size()) {
        harmless += changed ? 1 : 0;  // the change hit padding or reserved bytes
      } else {
        // Records missing and nothing reported: only possible when the damage zeroed the last
        // segment from a record boundary to its end, which is byte-identical to a tail that
        // was never written (no log format can tell them apart without a separate end marker).
        INFO("mutation " << c % 4 << " at " << at << " of file " << f);
        REQUIRE(f == files.size() - 1);
        REQUIRE(c % 4 != 0);
        const auto tail = std::span(image).subspan(data_ends[f] - 8, 8);
        REQUIRE(
            std::all_of(tail.begin(), tail.end(), [](std::byte b) { return b == std::byte{0}; }));
        ++zeroed_tail;
      }
    }
    log = Result<std::unique_ptr<SegmentLog>>(Errc::ok);  // close before the salvage pass
    // Salvage mode on the same damage: never a crash, only original records, in order.
    restore();
    test::write_all(work / files[f].filename(), image);
    SegmentLogOptions salvage = o;
    salvage.salvage = true;
    auto salvaged = SegmentLog::open(work, salvage);
    if (salvaged) {
      const auto bodies = recovered_bodies(**salvaged);
      std::size_t k = 0;
      for (const auto& b : bodies) {
        while (k < originals.size() && originals[k] != b) ++k;
        REQUIRE(k < originals.size());  // every salvaged record is an original one
      }
      ++salvaged_ok;
    }
    salvaged = Result<std::unique_ptr<SegmentLog>>(Errc::ok);
    restore();
  }
  switchyard::test::print_figures("storage_corruption", {{"faults", cases},
                                                         {"bit_flips", flips},
                                                         {"zeroed_ranges", zeroed},
                                                         {"bogus_lengths", lengths},
                                                         {"random_bytes", garbage},
                                                         {"refused", refused},
                                                         {"torn_tails", truncated},
                                                         {"harmless", harmless},
                                                         {"zeroed_tail", zeroed_tail},
                                                         {"salvage_opened", salvaged_ok},
                                                         {"silently_wrong", 0}});
  CHECK(refused + truncated + harmless > cases / 2);
}

TEST_CASE(
    "a full disk (RLIMIT_FSIZE - SIGXFSZ ignored) is disk_full at append - appends resume "
    "when space returns - nothing accepted is lost") {
  ScratchDir dir;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Child: the limit applies to this process only.
    ::close(fds[0]);
    std::signal(SIGXFSZ, SIG_IGN);
    SegmentLogOptions o;
    o.segment_bytes = 64 * 1024;
    auto log = SegmentLog::open(dir.path(), o);
    if (!log) ::_exit(10);
    rlimit lim{};
    ::getrlimit(RLIMIT_FSIZE, &lim);
    const rlimit tight{32 * 1024, lim.rlim_max};  // below one segment: the next roll fails
    ::setrlimit(RLIMIT_FSIZE, &tight);
    std::uint64_t accepted = 0, refusals = 0;
    for (int i = 0; i < 2000 && refusals < 5; ++i) {
      auto r = (*log)->append(bytes_of(payload_for(accepted, 100)), 0);
      if (r) {
        ++accepted;
      } else if (r.code() == Errc::disk_full) {
        ++refusals;
      } else {
        ::_exit(11);
      }
    }
    if (refusals == 0) ::_exit(12);
    ::setrlimit(RLIMIT_FSIZE, &lim);  // space returns
    for (int i = 0; i < 1000; ++i) {
      if (!(*log)->append(bytes_of(payload_for(accepted, 100)), 0)) ::_exit(13);
      ++accepted;
    }
    const std::uint64_t report[2] = {accepted, refusals};
    (void)::write(fds[1], report, sizeof report);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::uint64_t report[2] = {};
  const auto n = ::read(fds[0], report, sizeof report);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  INFO("child exit status " << status
                            << " (10 open, 11 wrong error, 12 limit never hit, 13 "
                               "append failed after space returned; signal = crash)");
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(n == sizeof report);
  auto log = SegmentLog::open(dir.path(), {});
  REQUIRE(log);
  const auto bodies = recovered_bodies(**log);
  REQUIRE(bodies.size() == report[0]);
  for (std::uint64_t i = 0; i < report[0]; ++i) REQUIRE(bodies[i] == payload_for(i, 100));
  switchyard::test::print_figures(
      "storage_disk_full",
      {{"faults", report[1]}, {"accepted", report[0]}, {"recovered", bodies.size()}, {"lost", 0}});
}

TEST_CASE(
    "a failed sync (EIO) under group commit: producers get errors - never a false ack - "
    "and every acked record survives") {
  struct EioAfter : FaultInjector {
    std::atomic<int> syncs_left;
    explicit EioAfter(int n) : syncs_left(n) {}
    int on_sync(std::string_view) noexcept override {
      return syncs_left.fetch_sub(1, std::memory_order_relaxed) <= 0 ? EIO : 0;
    }
  };
  ScratchDir dir;
  EioAfter faults(5);
  std::mutex m;
  std::vector<std::uint64_t> acked;  // completions with success
  std::uint64_t failed_completions = 0, refused_appends = 0, accepted = 0, wrong_codes = 0;
  {
    SegmentLogOptions o;
    o.segment_bytes = 64 * 1024;
    o.durability = Durability::batch;
    o.sync_bytes = 2048;
    o.faults = &faults;
    auto log = SegmentLog::open(dir.path(), o);
    REQUIRE(log);
    // Appends race the flusher's syncs; every 100th append also syncs from this thread, so
    // the sixth sync (the injected EIO) comes within ~600 appends however slow the flusher is.
    // Keep going for 1000 appends after it, to see them refused.
    std::uint64_t stop_at = 200'000;
    for (std::uint64_t i = 0; i < stop_at; ++i) {
      if (i % 100 == 99) (void)(*log)->sync();
      if ((*log)->read_only() && stop_at == 200'000) stop_at = i + 1000;
      auto r = (*log)->append(bytes_of(payload_for(i, 100)), 0, [&, i](Status s) {
        std::lock_guard lock(m);
        if (s) {
          acked.push_back(i);
        } else {
          // Counted, not asserted: this runs on the flusher thread (Catch is single-threaded).
          ++failed_completions;
          wrong_codes += s.code() != Errc::io_error;
        }
      });
      if (!r) {
        REQUIRE(r.code() == Errc::io_error);
        ++refused_appends;
      } else {
        ++accepted;
      }
    }
    REQUIRE((*log)->read_only());
  }
  std::lock_guard lock(m);
  REQUIRE(refused_appends > 0);
  REQUIRE(wrong_codes == 0);
  REQUIRE(acked.size() + failed_completions == accepted);  // every completion fired exactly once
  auto log = SegmentLog::open(dir.path(), {});
  REQUIRE(log);
  const auto bodies = recovered_bodies(**log);
  for (const auto i : acked) {
    REQUIRE(i < bodies.size());
    REQUIRE(bodies[i] == payload_for(i, 100));
  }
  switchyard::test::print_figures("storage_failed_sync",
                                  {{"faults", 1},
                                   {"accepted", accepted},
                                   {"acked", acked.size()},
                                   {"failed_completions", failed_completions},
                                   {"refused_appends", refused_appends},
                                   {"recovered", bodies.size()},
                                   {"lost", 0}});
}

namespace {
// Fails every sync from the moment `failing` is set.
struct FailSyncs : FaultInjector {
  std::atomic<bool> failing{false};
  int on_sync(std::string_view) noexcept override {
    return failing.load(std::memory_order_relaxed) ? EIO : 0;
  }
};

/// Small segments at Durability::always, with `faults` injected.
SegmentLogOptions always_with(FaultInjector& faults) {
  SegmentLogOptions o;
  o.segment_bytes = 64 * 1024;
  o.durability = Durability::always;
  o.faults = &faults;
  return o;
}
}  // namespace

TEST_CASE(
    "with durability always a failed sync reports the append's outcome exactly once - an "
    "error from append, never also the completion") {
  ScratchDir dir;
  FailSyncs faults;
  auto log = SegmentLog::open(dir.path(), always_with(faults));
  REQUIRE(log);
  int completions = 0;
  Status completed;
  auto fine = (*log)->append(bytes_of("fine"), 1, [&](Status s) {
    ++completions;
    completed = std::move(s);
  });
  REQUIRE(fine);
  CHECK(completions == 1);  // synced before append returned
  CHECK(completed);
  faults.failing = true;
  completions = 0;
  auto failed = (*log)->append(bytes_of("fails"), 2, [&](Status) { ++completions; });
  REQUIRE_FALSE(failed);
  CHECK(failed.code() == Errc::io_error);
  CHECK(completions == 0);  // the error went to the caller; the completion stays silent
  auto later = (*log)->append(bytes_of("later"), 3, [&](Status) { ++completions; });
  CHECK(later.code() == Errc::io_error);
  CHECK(completions == 0);
  log->reset();  // the closing sync has nothing left to report
  CHECK(completions == 0);
}

TEST_CASE(
    "a durable topic partition at durability always keeps the PartitionLog contract when its "
    "sync fails - append fails and done is not called") {
  ScratchDir dir;
  FailSyncs faults;
  SegmentLogOptions o = always_with(faults);
  auto clock = std::make_shared<ManualClock>();
  o.clock = clock;
  auto opened = DurablePartitionLog::open(0, dir.path(), o, {}, clock);
  REQUIRE(opened);
  PartitionLog& log = **opened;
  auto message = [](std::string_view payload) {
    return Access::adopt(MessageBody::create("", "", bytes_of(payload)));
  };
  int completions = 0;
  REQUIRE(log.append(message("fine"), 0, [&](Status s) { completions += s ? 1 : 100; }));
  CHECK(completions == 1);
  faults.failing = true;
  completions = 0;
  auto failed = log.append(message("fails"), 0, [&](Status) { ++completions; });
  REQUIRE_FALSE(failed);
  CHECK(failed.code() == Errc::io_error);
  CHECK(completions == 0);
  opened->reset();
  CHECK(completions == 0);
}
