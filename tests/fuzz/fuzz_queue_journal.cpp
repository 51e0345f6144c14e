// Fuzz target: the queue journal's recovery (src/queue_journal.cpp) on a hostile settlement
// log. The segment framing is fuzz_segment_reader's; here the records are framed by the log
// writer itself and their bodies are hostile, so the journal's replay (kinds, seqs, attempts,
// snapshots, generations) sees every input.
//
// Input: byte 0 = how many messages the message log holds (0..63); then settlement record
// bodies, each as [length byte][length bytes], appended to the journal's newest settlement
// generation. Then: reopen; whatever recover() returns must be messages that were appended, in
// seq order, each once; ack half of them, record a delivery of the rest, compact, reopen: the
// rest come back with their attempt counts and the acked ones never do.
//
// Seeds come from the writer, not from checked-in bytes: with SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>
// the binary runs real journal workloads, writes their settlement logs in the input format to
// <dir> and exits (scripts/run-fuzz does this before each run), so a format change cannot leave
// the seeds stale.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "durable/queue_journal.hpp"
#include "durable/stored_message.hpp"
#include "fuzz_support.hpp"
#include "storage/segment_log.hpp"

using namespace switchyard::detail;
namespace fs = std::filesystem;
using switchyard::fuzz::check;

namespace {

const fs::path& scratch() {
  static const fs::path dir = [] {
    const fs::path root =
        ::access("/dev/shm", W_OK) == 0 ? fs::path("/dev/shm") : fs::temp_directory_path();
    return root / ("switchyard-fuzz-journal-" + std::to_string(::getpid()));
  }();
  return dir;
}

QueueJournalOptions options() {
  QueueJournalOptions o;
  o.log.segment_bytes = 64 * 1024;
  o.settlement_segment_bytes = 16 * 1024;
  o.compact_bytes = 4 * 1024;
  return o;
}

StoredMessage message_of(std::uint64_t seq) {
  StoredMessage m;
  m.id = seq + 1;
  m.payload.assign(seq % 7 + 1, static_cast<std::byte>(seq));
  return m;
}

/// The settlement generation directory of the journal in `dir` (the one that is not messages/).
fs::path generation_dir(const fs::path& dir) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename() != "messages") found = entry.path();
  }
  return found;
}

SegmentLogOptions settlement_log_options() {
  SegmentLogOptions o = options().log;
  o.segment_bytes = options().settlement_segment_bytes;
  o.owner.role = StreamRole::settlements;  // as the journal's own settlement logs are
  return o;
}

/// Writes one seed: the settlement log the writer left in `dir`, in the input format.
void write_seed(const fs::path& dir, std::uint8_t messages, const fs::path& out) {
  std::string bytes(1, static_cast<char>(messages));
  auto log = SegmentLog::open(generation_dir(dir), settlement_log_options());
  check(static_cast<bool>(log));
  for (std::uint64_t from = (*log)->start_offset();;) {
    auto batch = (*log)->read(from);
    check(static_cast<bool>(batch));
    if (batch->records.empty()) break;
    for (const auto& r : batch->records) {
      if (r.body.size() > 255) continue;
      bytes.push_back(static_cast<char>(r.body.size()));
      bytes.append(reinterpret_cast<const char*>(r.body.data()), r.body.size());
    }
    from = batch->next_offset;
  }
  std::ofstream(out, std::ios::binary) << bytes;
}

/// Journal workloads through the public writer API; each leaves one seed.
void write_seeds(const fs::path& out) {
  fs::create_directories(out);
  for (int variant = 0; variant < 4; ++variant) {
    fs::remove_all(scratch());
    const std::uint8_t messages = static_cast<std::uint8_t>(8 + variant * 16);
    {
      auto journal = QueueJournal::open(scratch(), options());
      check(static_cast<bool>(journal));
      for (std::uint64_t i = 0; i < messages; ++i)
        check(static_cast<bool>((*journal)->append(fields_of(message_of(i)))));
      for (std::uint64_t i = 0; i < messages; ++i) {
        if (i % 3 != 2) check(static_cast<bool>((*journal)->record_delivery(i, 1 + i % 2)));
        if (i % 3 == 0) {
          check(static_cast<bool>((*journal)->record_ack(i)));
        } else if (i % 5 == 4) {
          check(static_cast<bool>((*journal)->record_dead_letter(i)));
        }
      }
      if (variant % 2 == 1) check(static_cast<bool>((*journal)->compact()));
      if (variant == 3) check(static_cast<bool>((*journal)->record_drop(1)));
    }
    write_seed(scratch(), messages, out / ("seed-" + std::to_string(variant)));
  }
  fs::remove_all(scratch());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  switchyard::fuzz::write_seeds_if_asked(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const fs::path& dir = scratch();
  fs::remove_all(dir);
  // Removed again when this input is done (libFuzzer does not run atexit handlers).
  struct Cleanup {
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(scratch(), ignored);
    }
  } cleanup;
  const std::uint64_t messages = data[0] % 64;
  {
    auto journal = QueueJournal::open(dir, options());
    check(static_cast<bool>(journal));
    for (std::uint64_t i = 0; i < messages; ++i)
      check(static_cast<bool>((*journal)->append(fields_of(message_of(i)))));
  }
  {
    auto log = SegmentLog::open(generation_dir(dir), settlement_log_options());
    check(static_cast<bool>(log));
    for (std::size_t pos = 1; pos < size;) {
      const std::size_t length = std::min<std::size_t>(data[pos], size - pos - 1);
      const std::span<const std::byte> body(reinterpret_cast<const std::byte*>(data + pos + 1),
                                            length);
      if (!(*log)->append(body, 0)) break;
      pos += 1 + length;
    }
  }

  std::vector<RecoveredMessage> first;
  {
    auto journal = QueueJournal::open(dir, options());
    if (!journal) return 0;  // a typed error: fine
    auto recovered = (*journal)->recover();
    if (!recovered) return 0;
    first = std::move(*recovered);
    for (std::size_t i = 0; i < first.size(); ++i) {
      const RecoveredMessage& r = first[i];
      check(r.seq < messages && r.seq >= (*journal)->floor());
      check(i == 0 || first[i - 1].seq < r.seq);
      check(r.message == message_of(r.seq));
    }
    // Settle half, deliver the rest once more, compact: the state must survive a reopen.
    for (std::size_t i = 0; i < first.size(); ++i) {
      RecoveredMessage& r = first[i];
      if (i % 2 == 0) {
        check(static_cast<bool>((*journal)->record_ack(r.seq)));
      } else if (r.attempts < 1000) {
        ++r.attempts;
        check(static_cast<bool>((*journal)->record_delivery(r.seq, r.attempts)));
      }
    }
    check(static_cast<bool>((*journal)->compact()));
  }
  auto journal = QueueJournal::open(dir, options());
  check(static_cast<bool>(journal));
  auto again = (*journal)->recover();
  check(static_cast<bool>(again));
  std::size_t j = 0;
  for (std::size_t i = 1; i < first.size(); i += 2, ++j) {
    check(j < again->size() && (*again)[j].seq == first[i].seq &&
          (*again)[j].attempts == first[i].attempts);
  }
  check(j == again->size());
  return 0;
}
