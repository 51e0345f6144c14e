#include "durable/queue_journal.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>

#include "switchyard/detail/deadline.hpp"

#include <fmt/format.h>

namespace switchyard::detail {

void encode_settlement(Settlement kind, std::uint64_t seq, std::uint32_t attempts,
                       std::byte (&out)[kSettlementSize]) noexcept {
  std::memset(out, 0, sizeof out);
  out[0] = static_cast<std::byte>(kind);
  store<std::uint32_t>(out + 4, attempts);
  store<std::uint64_t>(out + 8, seq);
}

Result<DecodedSettlement> decode_settlement(std::span<const std::byte> body) {
  if (body.size() != kSettlementSize) {
    return Failure{Errc::corrupt, fmt::format("settlement record of {} bytes (expected {})",
                                              body.size(), kSettlementSize)};
  }
  const auto kind = static_cast<std::uint8_t>(body[0]);
  if (kind < 1 || kind > 8) {
    return Failure{Errc::corrupt, fmt::format("unknown settlement kind {}", kind)};
  }
  return DecodedSettlement{static_cast<Settlement>(kind), load<std::uint64_t>(body.data() + 8),
                           load<std::uint32_t>(body.data() + 4)};
}

namespace {

std::string generation_name(std::uint64_t gen) {
  return fmt::format("acks-{}", gen);
}

bool parse_generation(std::string_view name, std::uint64_t& gen) {
  if (!name.starts_with("acks-")) return false;
  name.remove_prefix(5);
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), gen);
  return ec == std::errc() && end == name.data() + name.size() && !name.empty();
}

}  // namespace

QueueJournal::QueueJournal(std::filesystem::path dir, QueueJournalOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

QueueJournal::~QueueJournal() = default;

Result<std::unique_ptr<QueueJournal>> QueueJournal::open(const std::filesystem::path& dir,
                                                         QueueJournalOptions options) {
  // One group-commit thread serves both logs of the journal.
  if (options.log.durability == Durability::batch && !options.log.flusher) {
    options.log.flusher = std::make_shared<Flusher>();
  }
  std::unique_ptr<QueueJournal> journal(new QueueJournal(dir, std::move(options)));
  SegmentLogOptions message_options = journal->options_.log;
  message_options.owner = message_options.owner.with_role(StreamRole::records);
  auto messages = SegmentLog::open(dir / "messages", message_options);
  if (!messages) return messages.failure();
  journal->messages_ = std::move(*messages);
  if (auto status = journal->open_settlements(); !status) return status.failure();
  // The dedup ids still within their window hold their segments again (before any settlement
  // could delete them). Records below the message log's start were deleted: their windows had
  // ended, or (a log truncated by other means) their ids went with them.
  try {
    const std::int64_t now = journal->wall_now_ns();
    const auto& log = *journal->messages_;
    auto from = log.offset_for_timestamp(saturating_add(now, -journal->options_.dedup_window_ns));
    if (!from) return from.failure();
    auto held = collect_stored_dedup(log, *from, now);
    if (!held) return held.failure();
    MutexLock lock(journal->mutex_);
    for (StoredDedup& d : *held) {
      const std::uint64_t seq = d.offset;
      journal->dedup_holds_.insert_or_assign(seq, std::move(d));
    }
  } catch (const std::bad_alloc&) {
    return Failure{Errc::out_of_memory, "recovering the dedup ids of " + dir.string()};
  }
  return journal;
}

Result<std::unique_ptr<SegmentLog>> QueueJournal::open_generation(std::uint64_t gen, bool fresh) {
  SegmentLogOptions o = options_.log;
  // A fresh generation is written with durability none and synced once when whole (see
  // compact_locked), rather than once per record.
  if (fresh) o.durability = Durability::none;
  o.segment_bytes = options_.settlement_segment_bytes;
  o.first_offset = 0;
  o.owner = o.owner.with_role(StreamRole::settlements);
  const auto path = dir_ / generation_name(gen);
  if (fresh) {
    if (auto removed = remove_tree(path, o.faults); !removed) return removed.failure();
  }
  return SegmentLog::open(path, o);
}

Status QueueJournal::open_settlements() {
  MutexLock lock(mutex_);
  FaultInjector* const faults = options_.log.faults;
  auto entries = list_directory(dir_, faults);
  if (!entries) return entries.failure();
  std::vector<std::uint64_t> gens;
  for (const auto& entry : *entries) {
    std::uint64_t gen = 0;
    std::error_code ec;
    if (entry.is_directory(ec) && parse_generation(entry.path().filename().string(), gen)) {
      gens.push_back(gen);
    }
  }
  std::sort(gens.rbegin(), gens.rend());

  // A seq at or past the message log's end is stale (see below). Replayed as it stands, a
  // damaged one would make track_to_locked add a node for every seq up to it; clamped to the
  // end it leaves the same state once the stale part is dropped.
  const std::uint64_t end = messages_->end_offset();
  bool stale = false;

  // The newest generation whose snapshot is complete wins; newer incomplete ones are debris of
  // a compaction cut short.
  for (std::size_t i = 0; i < gens.size() && !settlements_; ++i) {
    auto log = open_generation(gens[i], false);
    if (!log) return log.failure();
    pending_.clear();
    tracked_end_ = 0;
    bool complete = false;
    std::uint64_t from = 0;
    for (;;) {
      auto batch = (*log)->read(from, 4096);
      if (!batch) return batch.failure();
      if (batch->records.empty()) break;
      for (const auto& record : batch->records) {
        auto s = decode_settlement(record.body);
        if (!s) {
          return Failure{Errc::corrupt,
                         fmt::format("{}: record at offset {}: {}", (*log)->directory().string(),
                                     record.offset, s.message())};
        }
        if (s->kind == Settlement::snapshot_complete) complete = true;
        stale = stale || s->seq > end;
        apply_locked(s->kind, std::min(s->seq, end), s->attempts);
      }
      from = batch->next_offset;
    }
    if (complete) {
      settlements_ = std::move(*log);
      generation_ = gens[i];
      auto events = std::move(settlement_recovery_.events);
      settlement_recovery_ = settlements_->recovery_stats();
      settlement_recovery_.events.insert(settlement_recovery_.events.begin(), events.begin(),
                                         events.end());
    } else {
      settlement_recovery_.events.push_back(
          fmt::format("{}: settlement generation {} has no complete snapshot (a compaction cut "
                      "short): discarded",
                      (*log)->directory().string(), gens[i]));
      log->reset();
      if (auto removed = remove_tree(dir_ / generation_name(gens[i]), faults); !removed) {
        return removed;
      }
    }
  }
  // Older generations are superseded (a crash can leave one behind after a compaction).
  for (const std::uint64_t gen : gens) {
    if (settlements_ && gen < generation_) {
      // Best effort: a superseded generation left behind is removed on the next open.
      (void)remove_tree(dir_ / generation_name(gen), faults);
    }
  }
  // Anything the settlement log says about seqs the message log does not hold (a message lost
  // to a torn tail after power loss under durability `none`) must not settle a future message
  // that reuses the seq: forget it, and write a fresh snapshot without it.
  stale = stale || tracked_end_ > end;
  if (stale) {
    settlement_recovery_.events.push_back(fmt::format(
        "{}: settlements name seqs up to {} but the message log ends at {}: messages [{}, {}) "
        "were lost (torn tail) and their settlements are forgotten",
        dir_.string(), tracked_end_, end, end, tracked_end_));
    pending_.erase_from(end);
    tracked_end_ = end;
  }
  // Segments below the message log's start were deleted because they were settled.
  track_to_locked(messages_->start_offset());
  pending_.erase_below(messages_->start_offset());
  if (!settlements_ || stale || settlements_->size_bytes() > options_.compact_bytes) {
    return compact_locked();
  }
  settlement_bytes_ = settlements_->size_bytes();
  compact_at_ = std::max(options_.compact_bytes, 2 * settlement_bytes_);
  return {};
}

void QueueJournal::track_to_locked(std::uint64_t end) {
  // Seqs in [tracked_end_, end) were appended and not settled: track them individually.
  for (; tracked_end_ < end; ++tracked_end_) pending_.set(tracked_end_, 0);
}

void QueueJournal::apply_locked(Settlement kind, std::uint64_t seq, std::uint32_t attempts) {
  switch (kind) {
    case Settlement::delivered:
      if (seq >= tracked_end_) track_to_locked(seq + 1);
      if (std::uint32_t* held = pending_.find(seq)) *held = std::max(*held, attempts);
      break;
    case Settlement::acked:
    case Settlement::dead_lettered:
    case Settlement::dropped:
      if (seq >= tracked_end_) track_to_locked(seq + 1);
      pending_.erase(seq);
      break;
    case Settlement::floor:
      pending_.clear();
      tracked_end_ = seq;
      break;
    case Settlement::live:
      pending_.set(seq, attempts);
      tracked_end_ = std::max(tracked_end_, seq + 1);
      break;
    case Settlement::horizon:
      tracked_end_ = std::max(tracked_end_, seq);
      break;
    case Settlement::snapshot_complete:
      break;
  }
}

Result<std::vector<RecoveredMessage>> QueueJournal::recover() const {
  std::uint64_t from = 0, tracked_end = 0;
  UnsettledSeqs pending;
  {
    MutexLock lock(mutex_);
    from = std::max(floor_locked(), messages_->start_offset());
    pending = pending_;
    tracked_end = tracked_end_;
  }
  std::vector<RecoveredMessage> out;
  for (;;) {
    auto batch = messages_->read(from, 4096);
    if (!batch) return batch.failure();
    if (batch->records.empty()) break;
    for (const auto& record : batch->records) {
      const std::uint32_t* attempts = pending.find(record.offset);
      if (record.offset < tracked_end && attempts == nullptr) continue;  // settled
      auto message = decode_stored_message(record.body);
      if (!message) {
        return Failure{Errc::corrupt,
                       fmt::format("{}: message at seq {}: {}", messages_->directory().string(),
                                   record.offset, message.message())};
      }
      out.push_back({record.offset, attempts == nullptr ? 0u : *attempts, std::move(*message)});
    }
    from = batch->next_offset;
  }
  return out;
}

Result<std::uint64_t> QueueJournal::append(const MessageFields& message, Completion done) {
  if (retired_.load(std::memory_order_acquire)) {
    return Result<std::uint64_t>(Errc::closed, dir_.string() + ": the queue is closed");
  }
  auto seq = append_stored(*messages_, message, std::move(done));
  if (!seq || message.dedup_id.empty()) return seq;
  // Held before the message can be settled (that needs it delivered first, after this
  // returns), so no truncation passes it while its window lasts.
  try {
    StoredDedup held{std::string(message.dedup_id), message.id, *seq,
                     rebase_deadline(message.dedup_until_ns,
                                     message.timestamp_ns - message.sent_ns)};
    MutexLock lock(mutex_);
    dedup_holds_.insert_or_assign(*seq, std::move(held));
  } catch (const std::bad_alloc&) {
    // Stored, not held: its segment may go before its window ends (the id is then forgotten
    // at the next restart, not now). Better than failing a send that was written.
  }
  return seq;
}

std::int64_t QueueJournal::wall_now_ns() const noexcept {
  if (options_.log.clock) return options_.log.clock->wall_now().time_since_epoch().count();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t QueueJournal::hold_floor_locked(std::int64_t now_wall_ns) {
  // Window ends are nearly in seq order (one window length per queue): forgetting from the
  // front is enough; an ended hold behind a live one goes when it reaches the front.
  while (!dedup_holds_.empty() && dedup_holds_.begin()->second.until_ns <= now_wall_ns) {
    dedup_holds_.erase(dedup_holds_.begin());
  }
  return dedup_holds_.empty() ? std::numeric_limits<std::uint64_t>::max()
                              : dedup_holds_.begin()->first;
}

std::vector<StoredDedup> QueueJournal::recover_dedup() const {
  const std::int64_t now = wall_now_ns();
  std::vector<StoredDedup> out;
  MutexLock lock(mutex_);
  for (const auto& [seq, held] : dedup_holds_) {
    if (held.until_ns > now) out.push_back(held);
  }
  return out;
}

Status QueueJournal::record_delivery(std::uint64_t seq, std::uint32_t attempts) {
  // A first delivery waits for no sync; a redelivery does (rare: after a nack, an expired
  // lease or a crash), so that a power loss costs a count at most one (the file comment).
  return settle(Settlement::delivered, seq, attempts, {}, attempts > 1);
}
Status QueueJournal::record_ack(std::uint64_t seq, Completion done) {
  return settle(Settlement::acked, seq, 0, std::move(done));
}
Status QueueJournal::record_dead_letter(std::uint64_t seq, Completion done) {
  return settle(Settlement::dead_lettered, seq, 0, std::move(done));
}
Status QueueJournal::record_drop(std::uint64_t seq, Completion done) {
  return settle(Settlement::dropped, seq, 0, std::move(done));
}

Status QueueJournal::settle(Settlement kind, std::uint64_t seq, std::uint32_t attempts,
                            Completion done, bool wait) {
  if (retired_.load(std::memory_order_acquire)) {
    return Failure{Errc::closed, dir_.string() + ": the queue is closed"};
  }
  if (seq >= messages_->end_offset()) {
    return Failure{Errc::out_of_range, fmt::format("{}: seq {} was never appended (end {})",
                                                   dir_.string(), seq, messages_->end_offset())};
  }
  std::uint64_t floor = 0;
  {
    MutexLock lock(mutex_);
    std::byte body[kSettlementSize];
    encode_settlement(kind, seq, attempts, body);
    auto r = wait ? settlements_->append(body, 0, std::move(done))
                  : settlements_->append_deferred(body, 0);
    if (!r) return r.failure();
    settlement_bytes_ += segment::record_footprint(kSettlementSize);
    apply_locked(kind, seq, attempts);
    floor = floor_locked();
    if (!dedup_holds_.empty()) floor = std::min(floor, hold_floor_locked(wall_now_ns()));
    if (settlement_bytes_ > compact_at_) {
      if (auto status = compact_locked(); !status) return status;
    }
  }
  // Relaxed: see truncate_at_.
  const std::size_t segments = messages_->segment_count();
  if (segments > 1 && (floor >= truncate_at_.load(std::memory_order_relaxed) ||
                       segments != truncate_segments_.load(std::memory_order_relaxed))) {
    SegmentLog::PrefixLeft left;
    auto deleted = messages_->truncate_prefix(floor, &left);
    if (!deleted) return deleted.failure();
    truncate_at_.store(left.next_end, std::memory_order_relaxed);
    truncate_segments_.store(left.segments, std::memory_order_relaxed);
  }
  return {};
}

Status QueueJournal::compact() {
  MutexLock lock(mutex_);
  return compact_locked();
}

Status QueueJournal::compact_locked() {
  const std::uint64_t gen = settlements_ ? generation_ + 1 : generation_;
  auto log = open_generation(gen, true);
  if (!log) return log.failure();
  std::byte body[kSettlementSize];
  auto put = [&](Settlement kind, std::uint64_t seq, std::uint32_t attempts) -> Status {
    encode_settlement(kind, seq, attempts, body);
    auto r = (*log)->append(body, 0);
    if (!r) return r.failure();
    return {};
  };
  Status status = put(Settlement::floor, floor_locked(), 0);
  pending_.each([&](std::uint64_t seq, std::uint32_t attempts) {
    status = put(Settlement::live, seq, attempts);
    return static_cast<bool>(status);
  });
  if (status) status = put(Settlement::horizon, tracked_end_, 0);
  if (status) status = put(Settlement::snapshot_complete, 0, 0);
  if (status && options_.log.durability != Durability::none) {
    // Written at durability none, so neither its segment's name nor the data is durable yet:
    // both must be before the old generation may go.
    status = (*log)->sync();
    if (status) status = sync_directory(dir_ / generation_name(gen), options_.log.faults);
  }
  if (status) {
    log->reset();  // reopen with the journal's durability
    log = open_generation(gen, false);
    if (!log) status = log.failure();
  }
  if (!status) {
    if (log) log->reset();
    // Best effort: an incomplete generation is debris that the next open deletes.
    (void)remove_tree(dir_ / generation_name(gen), options_.log.faults);
    return status;
  }
  // The new generation is whole: only now may the old one go.
  auto old = std::move(settlements_);
  const std::uint64_t old_gen = generation_;
  settlements_ = std::move(*log);
  generation_ = gen;
  if (old) {
    old.reset();
    if (auto s = remove_tree(dir_ / generation_name(old_gen), options_.log.faults); !s) return s;
    if (options_.log.durability != Durability::none) {
      if (auto s = sync_directory(dir_, options_.log.faults); !s) return s;
    }
  }
  ++compactions_;
  settlement_bytes_ = settlements_->size_bytes();
  compact_at_ = std::max(options_.compact_bytes, 2 * settlement_bytes_);
  return {};
}

Status QueueJournal::sync() {
  if (auto status = messages_->sync(); !status) return status;
  MutexLock lock(mutex_);
  return settlements_->sync();
}

std::uint64_t QueueJournal::floor() const {
  MutexLock lock(mutex_);
  return floor_locked();
}

std::uint64_t QueueJournal::settlement_bytes() const {
  MutexLock lock(mutex_);
  return settlement_bytes_;
}

std::uint64_t QueueJournal::compactions() const {
  MutexLock lock(mutex_);
  return compactions_;
}

}  // namespace switchyard::detail
