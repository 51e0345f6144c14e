// `tail -f`: follows a durable topic while a broker writes it.
//
// Read-only and lock-free for the writer: no lock is taken (not the data directory's, not a
// log's), nothing is written. Every `interval_ms` each partition's directory is listed and the
// segment holding the next offset, and any after it, are mapped read-only and scanned from
// the start; records at or past the next offset are printed. A record becomes visible when
// its writer stores its size, last (the publication protocol, storage/segment_format.hpp);
// one caught half-written fails its CRC, ends that scan, and is read whole on the next poll.
// A segment retention deleted meanwhile is skipped; a new one is found by the next listing.
//
// Ends on SIGINT or SIGTERM (exit 0), or after `max_records`. The two signals are blocked and
// taken with sigtimedwait, which is also the wait between polls: no handler, so no window
// between a flag's check and the sleep in which a signal could be missed, and nothing for a
// sanitizer's deferred signal delivery to hold back.
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "inspect/commands.hpp"
#include "inspect/data_directory.hpp"
#include "inspect/stream.hpp"
#include "inspect/text.hpp"

namespace switchyard::inspect {

using namespace switchyard::detail;

namespace {

/// SIGINT and SIGTERM, blocked from now on: they stay pending until `stop_signalled` takes one.
sigset_t block_stop_signals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

/// Waits up to `wait` for one of `stop`'s signals; true once one came.
bool stop_signalled(const sigset_t& stop, timespec wait) {
  for (;;) {
    if (::sigtimedwait(&stop, nullptr, &wait) > 0) return true;
    if (errno != EINTR) return false;  // EAGAIN: the wait ended with no signal
  }
}

struct Follow {
  std::uint32_t partition = 0;
  fs::path dir;
  std::uint64_t next = 0;  // the next offset to print
};

}  // namespace

int cmd_tail(const fs::path& dir, const std::string& destination, const TailOptions& options,
             const Common& common) {
  auto data = DataDirectory::open(dir);
  if (!data) return fail(data.message());
  auto found = data->find(destination, DestinationKind::topic);
  if (!found) return fail(found.message() + " (tail -f follows a durable topic)");
  const StoredDestination& topic = **found;
  const RecordFilter& filter = options.filter;
  if (filter.partition && *filter.partition >= topic.partitions) {
    return fail(fmt::format("topic '{}' has {} partition(s): no partition {}", topic.name,
                            topic.partitions, *filter.partition));
  }
  std::vector<Follow> follows;
  for (std::uint32_t p = 0; p < topic.partitions; ++p) {
    if (filter.partition && p != *filter.partition) continue;
    Follow f{p, topic.stream_dir(p), filter.from_offset};
    if (!options.from_start) f.next = examine_stream(f.dir).end_offset;
    follows.push_back(std::move(f));
  }
  const sigset_t stop = block_stop_signals();
  bool stopped = false;
  std::uint64_t printed = 0;
  auto done = [&] {
    return stopped || (options.max_records && printed >= *options.max_records);
  };
  while (!done()) {
    bool progressed = false;
    for (auto& f : follows) {
      const auto files = segments_of(f.dir);
      // From the last segment whose base is at or below the next offset.
      std::size_t first = 0;
      for (std::size_t i = 0; i < files.size(); ++i) {
        std::uint64_t base = 0;
        if (segment::parse_file_name(files[i].filename().string(), base) && base <= f.next) {
          first = i;
        }
      }
      for (std::size_t i = first; i < files.size() && !done(); ++i) {
        auto image = open_image(files[i]);
        if (!image) continue;  // removed by retention since the listing
        (void)scan_segment(image->bytes(), files[i].string(), {.probe_after_damage = false},
                           [&](const RecordView& r, std::size_t) {
                             if (r.offset < f.next || done()) return;
                             f.next = r.offset + 1;
                             progressed = true;
                             if (filter.to_offset && r.offset >= *filter.to_offset) return;
                             if ((filter.from_time && r.timestamp_ns < *filter.from_time) ||
                                 (filter.to_time && r.timestamp_ns >= *filter.to_time)) {
                               return;
                             }
                             Shown s = show_record({.partition = f.partition,
                                                    .offset = r.offset,
                                                    .timestamp_ns = r.timestamp_ns,
                                                    .attempts = {}},
                                                   r.body, filter.payload);
                             if (filter.key && (!s.json.contains("key") ||
                                                s.json["key"] != json_text(*filter.key))) {
                               return;
                             }
                             const std::string line = (common.json ? s.json.dump() : s.line) + "\n";
                             std::fwrite(line.data(), 1, line.size(), stdout);
                             ++printed;
                           });
      }
    }
    std::fflush(stdout);
    if (done()) break;
    // Between polls the wait for a signal is the pause; a poll that printed looks without one.
    const timespec pause{progressed ? 0 : options.interval_ms / 1000,
                         progressed ? 0 : static_cast<long>(options.interval_ms % 1000) * 1'000'000};
    stopped = stop_signalled(stop, pause);
  }
  return kClean;
}

}  // namespace switchyard::inspect
