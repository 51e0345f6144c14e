// The Queue's machinery: admission, placement, taking, requeue and dead-lettering.
// Data structures and the threading story are in src/queue/queue_state.hpp.
#include "queue/queue_state.hpp"
#include "switchyard/detail/deadline.hpp"
#include "sync/capacity_gate.hpp"
#include "util/access.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <thread>

namespace switchyard::detail {

namespace {

/// Set while this thread hands a dead letter on (QueueState::dead_letter): every queue the
/// dead letter reaches — the dead-letter queue, or the queues an exchange routes it to — refuses
/// it when full instead of waiting or dropping its oldest, so settling a delivery never blocks
/// and a queue that dead-letters into itself through an exchange cannot recurse.
thread_local bool dead_lettering = false;

/// Lowers `target` to `value` if `value` is smaller.
void fetch_min(std::atomic<std::int64_t>& target, std::int64_t value) noexcept {
  std::int64_t current = target.load(std::memory_order_relaxed);
  while (value < current && !target.compare_exchange_weak(current, value, std::memory_order_acq_rel,
                                                          std::memory_order_relaxed)) {
  }
}

}  // namespace

QueueState::QueueState(std::string name, QueueOptions options, std::shared_ptr<Clock> clock,
                       std::shared_ptr<Destination> dead_letter,
                       std::unique_ptr<QueueJournal> journal, std::shared_ptr<const Hooks> hooks)
    : name_(std::move(name)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      dead_letter_(std::move(dead_letter)),
      journal_(std::move(journal)),
      hooks_(hooks ? std::move(hooks) : Hooks::none()),
      ring_(journal_ ? 2 : options_.capacity),
      unused_since_ns_(clock_->now().time_since_epoch().count()) {
  defers_completion_ = journal_ != nullptr && options_.durability == Durability::batch;
  slow_.levels.resize(static_cast<std::size_t>(options_.max_priority) + 1);
  slow_.redelivered_front.resize(slow_.levels.size());
}

QueueState::~QueueState() = default;

// --- producer side ---------------------------------------------------------------------

Result<SendReceipt> QueueState::accept(Message&& message, const SendOptions& options) noexcept {
  if (closed_for_send()) return Result<SendReceipt>(Errc::closed);
  // The send's own stamp is "now" here: it was taken a moment ago, on the sending thread, and
  // saves a clock read per message.
  const TimePoint now = TimePoint(Duration(Access::body(message)->sent_ns));
  if (message.payload().size() > options_.max_payload) {
    return Result<SendReceipt>(Errc::payload_too_large,
                               "payload of " + std::to_string(message.payload().size()) +
                                   " bytes exceeds queue '" + name_ + "' limit of " +
                                   std::to_string(options_.max_payload));
  }
  if (!options.dedup_id.empty()) {
    MutexLock lock(slow_.mutex);
    std::pair<MessageId*, bool> seen;
    try {
      seen = slow_.dedup.remember(options.dedup_id, message.id(), ns(now),
                                  saturating_add(ns(now), options_.dedup_window.count()));
    } catch (const std::bad_alloc&) {
      return Result<SendReceipt>(Errc::out_of_memory);
    }
    auto [first, inserted] = seen;
    if (!inserted) {
      deduplicated_.fetch_add(1, std::memory_order_relaxed);
      const SendReceipt duplicate{*first, true};
      if (defers_completion()) report_now(options, duplicate);  // nothing more to sync
      return duplicate;
    }
  }
  auto result = admit(std::move(message), options, now);
  if (!result && !options.dedup_id.empty()) {
    // Not accepted, so not seen: a retry of the same id must get in.
    MutexLock lock(slow_.mutex);
    slow_.dedup.forget(options.dedup_id);
  }
  return result;
}

Result<std::size_t> QueueState::accept_batch(std::span<Message> messages,
                                             const SendOptions& options) noexcept {
  if (messages.empty()) return std::size_t{0};
  if (!options.dedup_id.empty() || journal_ || options_.max_length_bytes != 0 ||
      !try_reserve_capacity(messages.size())) {
    return Destination::accept_batch(messages, options);
  }
  if (closed_for_send()) {
    admitted_.fetch_sub(messages.size(), std::memory_order_relaxed);
    return Result<std::size_t>(Errc::closed);
  }
  std::size_t taken = 0;
  bool out_of_memory = false;
  // The common run — no queue delay; ready, ring-eligible messages of one send stamp (what
  // Producer::send_batch makes) — goes into the ring with one claim of its cells.
  if (options_.delay.count() <= 0) {
    const std::int64_t now = Access::body(messages.front())->sent_ns;
    std::size_t run = 0;
    while (run < messages.size()) {
      const MessageBody& body = *Access::body(messages[run]);
      if (body.sent_ns != now || body.deliver_after_ns() != 0 || !ring_eligible(body) ||
          body.payload().size() > options_.max_payload) {
        break;
      }
      ++run;
    }
    if (run != 0) {
      // As push_ring: the delayed messages due by now go ahead of the run.
      // Acquire: pairs with refresh_slow_hints_locked's release.
      if (next_due_ns_.load(std::memory_order_acquire) <= now) [[unlikely]]
        promote_due(now);
      taken = ring_.try_push_run(messages.data(), run);
      out_of_memory = taken < run;
    }
  }
  for (Message& message : messages.subspan(out_of_memory ? messages.size() : taken)) {
    const MessageBody& body = *Access::body(message);
    if (body.payload().size() > options_.max_payload) break;
    const std::int64_t now = body.sent_ns;
    std::int64_t visible_at = body.deliver_after_ns();
    if (options_.delay.count() > 0) {
      visible_at = std::max(visible_at, saturating_add(now, options_.delay.count()));
    }
    const std::int64_t expires = expiry_of(body);
    Entry entry{std::move(message), expires, 0, 0};
    if (!place(std::move(entry), visible_at, now, /*wake=*/false)) {
      message = std::move(entry.message);  // untouched by the failed place: the caller's again
      out_of_memory = true;
      break;
    }
    ++taken;
  }
  // Give back what the refused tail had reserved.
  if (taken < messages.size()) {
    admitted_.fetch_sub(messages.size() - taken, std::memory_order_relaxed);
    space_.notify_all();
  }
  if (taken != 0) ready_.notify_all();
  if (taken == 0 && out_of_memory) {
    return Result<std::size_t>(Errc::out_of_memory);
  }
  if (taken == 0) {
    // The first one is too large: refuse it exactly as a single send would.
    auto refused = accept(std::move(messages.front()), options);
    return refused ? Result<std::size_t>(std::size_t{1}) : Result<std::size_t>(refused.failure());
  }
  return taken;
}

bool QueueState::try_reserve_capacity(std::uint64_t n) noexcept {
  if (take_room(n) == Room::taken) return true;
  space_.notify_all();  // a blocked sender may have looked while our reservation stood
  return false;
}

Room QueueState::take_room_checked(std::uint64_t n, std::uint64_t after) noexcept {
  // Acquire: pairs with the takers' release, so a cell counted free is free.
  const std::uint64_t removed = removed_.load(std::memory_order_acquire);
  removed_seen_.store(removed, std::memory_order_relaxed);
  if (static_cast<std::int64_t>(after - removed) <= static_cast<std::int64_t>(options_.capacity)) {
    return Room::taken;
  }
  admitted_.fetch_sub(n, std::memory_order_relaxed);
  return Room::full;
}

Result<SendReceipt> QueueState::admit(Message&& message, const SendOptions& options,
                                      TimePoint now) noexcept {
  if (!reserve_capacity(now)) {
    rejected_full_.fetch_add(1, std::memory_order_relaxed);
    return Result<SendReceipt>(closed_for_send() ? Errc::closed : Errc::full);
  }
  const detail::MessageBody& body = *Access::body(message);
  const MessageId id = body.id;
  const std::uint64_t bytes = options_.max_length_bytes != 0 ? body.payload().size() : 0;
  if (options_.max_length_bytes != 0) [[unlikely]] {
    if (auto refused = admit_bytes(bytes, now); !refused) return refused;
  }
  // The common case, straight to the ring: a ring cell holds only the message, and its expiry
  // is worked out when it is taken, so nothing else is needed here.
  if (options_.delay.count() <= 0 && body.deliver_after_ns() == 0 && ring_eligible(body)) {
    if (!push_ring(std::move(message), ns(now))) [[unlikely]] {
      remove_bytes(bytes);
      return refuse_out_of_memory();
    }
    ready_.notify_all();
    return SendReceipt{id, false};
  }
  const std::int64_t expires = expiry_of(body);
  std::int64_t visible_at = body.deliver_after_ns();
  if (options_.delay.count() > 0) {
    visible_at = std::max(visible_at, saturating_add(ns(now), options_.delay.count()));
  }
  SendReceipt receipt{id, false};
  std::uint64_t seq = 0;
  DeferredCompletion* deferred = nullptr;
  if (journal_) {
    auto appended = journal_append(message, options, deferred);
    if (!appended) {
      admitted_.fetch_sub(1, std::memory_order_relaxed);  // give the reservation back
      remove_bytes(bytes);
      return Result<SendReceipt>(appended.failure());
    }
    seq = *appended;
    receipt.persisted = persisted_on_return(options_.durability);
  }
  if (!place(Entry{std::move(message), expires, 0, seq}, visible_at, ns(now))) {
    if (journal_) journal_failed("a drop", journal_->record_drop(seq));  // never to come back
    remove_bytes(bytes);
    auto refused = refuse_out_of_memory();
    if (deferred != nullptr) deferred->accepted(refused);
    return refused;
  }
  if (deferred != nullptr) deferred->accepted(receipt);
  return receipt;
}

Result<SendReceipt> QueueState::refuse_out_of_memory() noexcept {
  admitted_.fetch_sub(1, std::memory_order_relaxed);  // give the reservation back
  space_.notify_all();  // a blocked sender may have looked while it stood
  return Result<SendReceipt>(Errc::out_of_memory);
}

Result<SendReceipt> QueueState::admit_bytes(std::uint64_t bytes, TimePoint now) noexcept {
  if (bytes > options_.max_length_bytes) {
    admitted_.fetch_sub(1, std::memory_order_relaxed);  // give the reservation back
    space_.notify_all();
    return Result<SendReceipt>(Errc::payload_too_large,
                               "payload of " + std::to_string(bytes) + " bytes exceeds queue '" +
                                   name_ + "' max_length_bytes of " +
                                   std::to_string(options_.max_length_bytes));
  }
  if (reserve_bytes(bytes, now)) return SendReceipt{};
  admitted_.fetch_sub(1, std::memory_order_relaxed);  // give the reservation back
  space_.notify_all();
  rejected_full_.fetch_add(1, std::memory_order_relaxed);
  return Result<SendReceipt>(closed_for_send() ? Errc::closed : Errc::full);
}

bool QueueState::reserve_bytes(std::uint64_t n, TimePoint now) noexcept {
  const std::uint64_t limit = options_.max_length_bytes;
  // As take_room: count them in, keep them if they fit, else take them back out.
  auto try_take = [this, n, limit]() noexcept {
    const std::uint64_t after = bytes_.fetch_add(n, std::memory_order_acq_rel) + n;
    if (after <= limit) return Room::taken;
    bytes_.fetch_sub(n, std::memory_order_acq_rel);
    return Room::full;
  };
  if (dead_lettering) return try_take() == Room::taken;  // never waits nor drops (see above)
  auto room_hint = [this, n, limit]() noexcept {
    // Relaxed: a hint for the spin; the try decides.
    return bytes_.load(std::memory_order_relaxed) + n <= limit;
  };
  auto drop = [&]() noexcept { return drop_oldest(now); };
  auto closed = [this]() noexcept { return closed_for_send(); };
  GatedBuffer buffer{try_take, room_hint, drop, closed};
  const WhenFull when_full = options_.overflow == Overflow::block    ? WhenFull::block
                             : options_.overflow == Overflow::reject ? WhenFull::reject
                                                                     : WhenFull::drop_oldest;
  const TimePoint deadline =
      TimePoint(Duration(saturating_add(ns(now), options_.send_timeout.count())));
  return pass_capacity_gate(try_take(), when_full, buffer, RoomWait{space_, *clock_, deadline});
}

Result<std::uint64_t> QueueState::journal_append(Message& message, const SendOptions& options,
                                                 DeferredCompletion*& deferred) noexcept {
  using R = Result<std::uint64_t>;
  try {
    std::string object_bytes;
    auto fields = fields_of(message, object_bytes);
    if (!fields) return R(fields.code(), "durable queue '" + name_ + "': " + fields.message());
    if (!options.dedup_id.empty()) {
      // Stored with the message, so a restart remembers it (util/dedup_window.hpp); the window
      // is the one accept() opened, from the same send stamp.
      fields->dedup_id = options.dedup_id;
      fields->dedup_until_ns = saturating_add(fields->sent_ns, options_.dedup_window.count());
    }
    Completion done;
    if (defers_completion()) {
      deferred = DeferredCompletion::create(options);
      if (deferred != nullptr) done = deferred->on_synced();
    }
    auto seq = journal_->append(*fields, std::move(done));
    if (!seq) {
      if (deferred != nullptr) std::exchange(deferred, nullptr)->cancel();  // never fires
      return R(seq.code(), "durable queue '" + name_ + "': " + seq.message());
    }
    return seq;
  } catch (const std::bad_alloc&) {
    if (deferred != nullptr) std::exchange(deferred, nullptr)->cancel();  // not appended
    return R(Errc::out_of_memory);
  }
}

Result<std::pair<std::size_t, MessageId>> QueueState::recover() {
  using R = Result<std::pair<std::size_t, MessageId>>;
  if (!journal_) return std::pair<std::size_t, MessageId>{0, 0};
  const auto started = std::chrono::steady_clock::now();
  auto recovered = journal_->recover();
  if (!recovered) return R(recovered.failure());
  const Stamp stamp = clock_->stamp();
  const std::int64_t mono_minus_wall =
      stamp.now.time_since_epoch().count() - stamp.wall.time_since_epoch().count();
  MessageId highest = 0;
  for (RecoveredMessage& r : *recovered) {
    const StoredMessage& m = r.message;
    auto restored = to_message(m, mono_minus_wall);
    if (!restored) {
      return R(restored.code(), journal_->messages().directory().string() + ": message at seq " +
                                    std::to_string(r.seq) + ": " + restored.message());
    }
    Message message = std::move(*restored);
    const MessageBody* body = Access::body(message);
    highest = std::max(highest, m.id);
    admitted_.fetch_add(1, std::memory_order_acq_rel);
    add_bytes(body->payload().size());
    const std::int64_t expires = expiry_of(*body);
    std::int64_t visible_at = body->deliver_after_ns();
    if (r.attempts == 0 && options_.delay.count() > 0) {
      // The queue's default delay holds back a first delivery after a restart too.
      visible_at = std::max(visible_at, saturating_add(body->sent_ns, options_.delay.count()));
    }
    if (const std::string_view from = body->headers().get(headers::moved_from); !from.empty()) {
      // Perhaps a move a crash cut short: the broker's open settles the source's copy.
      const std::string_view seq_text = body->headers().get(headers::moved_seq);
      std::uint64_t seq = 0;
      if (std::from_chars(seq_text.data(), seq_text.data() + seq_text.size(), seq).ec ==
          std::errc()) {
        moved_in_.push_back({std::string(from), seq, m.id});
      }
    }
    if (!place(Entry{std::move(message), expires, r.attempts, r.seq}, visible_at,
               stamp.now.time_since_epoch().count())) {
      admitted_.fetch_sub(1, std::memory_order_relaxed);
      return R(Errc::out_of_memory);
    }
  }
  // The dedup ids of messages sent within their window before the restart, settled ones
  // included (SQS remembers an id for its window even after the message was deleted): a retry
  // of one is a duplicate, told the first message id.
  try {
    std::vector<StoredDedup> ids = journal_->recover_dedup();
    std::stable_sort(ids.begin(), ids.end(), [](const StoredDedup& a, const StoredDedup& b) {
      return a.until_ns < b.until_ns;
    });
    MutexLock lock(slow_.mutex);
    for (const StoredDedup& d : ids) {
      slow_.dedup.restore(d.id, d.message_id, rebase_deadline(d.until_ns, mono_minus_wall));
    }
  } catch (const std::bad_alloc&) {
    return R(Errc::out_of_memory);
  }
  recovery_.kind = StreamRecovery::Kind::queue;
  recovery_.destination = name_;
  add_recovery(recovery_, journal_->message_recovery());
  add_recovery(recovery_, journal_->settlement_recovery());
  recovery_.restored = recovered->size();
  recovery_.elapsed += std::chrono::steady_clock::now() - started;
  return std::pair<std::size_t, MessageId>{recovered->size(), highest};
}

bool QueueState::reserve_capacity_slow(TimePoint now) noexcept {
  if (dead_lettering) return false;  // a dead letter never waits for room (see above)
  const auto capacity = static_cast<std::int64_t>(options_.capacity);
  auto room_hint = [&]() noexcept {
    // Relaxed: a hint for the spin; the try decides.
    return static_cast<std::int64_t>(admitted_.load(std::memory_order_relaxed) -
                                     removed_.load(std::memory_order_relaxed)) < capacity;
  };
  auto drop = [&]() noexcept { return drop_oldest(now); };
  auto closed = [this]() noexcept { return closed_for_send(); };
  GatedBuffer queue{[this]() noexcept { return take_room(1); }, room_hint, drop, closed};
  const WhenFull when_full = options_.overflow == Overflow::block    ? WhenFull::block
                             : options_.overflow == Overflow::reject ? WhenFull::reject
                                                                     : WhenFull::drop_oldest;
  const TimePoint deadline =
      TimePoint(Duration(saturating_add(ns(now), options_.send_timeout.count())));
  return pass_capacity_gate(Room::full, when_full, queue, RoomWait{space_, *clock_, deadline});
}

bool QueueState::drop_oldest(TimePoint now) noexcept {
  Entry oldest;
  bool got = false;
  if (!journal_ && slow_ready_.load(std::memory_order_acquire) != 0) {
    // First deliveries a peek lifted out of ring_ are older than its head (queue_state.hpp).
    MutexLock lock(slow_.mutex);
    auto& level = slow_.levels[0];
    const std::size_t front = slow_.redelivered_front[0];
    if (level.size() > front) {
      oldest = std::move(level[front]);
      level.erase(level.begin() + static_cast<std::ptrdiff_t>(front));
      --slow_.level_items;
      refresh_slow_hints_locked();
      got = true;
    }
  }
  if (!got) got = ring_.try_pop(oldest.message);
  if (!got) {
    MutexLock lock(slow_.mutex);
    for (std::size_t p = 0; p < slow_.levels.size(); ++p) {
      auto& level = slow_.levels[p];
      if (!level.empty()) {
        oldest = std::move(level.front());
        level.pop_front();
        --slow_.level_items;
        if (slow_.redelivered_front[p] != 0) --slow_.redelivered_front[p];
        got = true;
        break;
      }
    }
    if (got) refresh_slow_hints_locked();
  }
  if (!got) return false;
  removed_.fetch_add(1, std::memory_order_release);
  overflow_removed_.fetch_add(1, std::memory_order_relaxed);
  remove_bytes(Access::body(oldest.message)->payload().size());
  (void)now;
  dead_letter(std::move(oldest), reason::overflow);
  return true;
}

std::int64_t QueueState::expiry_of(const MessageBody& body) const noexcept {
  std::int64_t expires = body.expires_at_ns();
  if (options_.ttl.count() > 0) {
    const std::int64_t queue_expiry = saturating_add(body.sent_ns, options_.ttl.count());
    expires = expires == 0 ? queue_expiry : std::min(expires, queue_expiry);
  }
  return expires;
}

bool QueueState::place(Entry&& entry, std::int64_t visible_at_ns, std::int64_t now_ns,
                       bool wake) noexcept {
  const bool slow = visible_at_ns > now_ns || entry.deliveries != 0 ||
                    !ring_eligible(*Access::body(entry.message));
  // The ring holds only the message: a first delivery's expiry is recomputed from the body.
  if (!slow) {
    if (!push_ring(std::move(entry.message), now_ns)) return false;
    if (wake) ready_.notify_all();
    return true;
  }
  {
    MutexLock lock(slow_.mutex);
    if (visible_at_ns > now_ns) {
      Delayed delayed{visible_at_ns, slow_.delayed_sequence, std::move(entry)};
      try {
        slow_.delayed.push(std::move(delayed));  // strong guarantee: on a throw, untouched
      } catch (const std::bad_alloc&) {
        entry = std::move(delayed.entry);
        return false;
      }
      ++slow_.delayed_sequence;
    } else {
      // Messages that came due before this one was sent are ahead of it (FIFO per level).
      promote_due_locked(TimePoint(Duration(now_ns)));
      if (!place_ready_locked(std::move(entry))) return false;
    }
    refresh_slow_hints_locked();
  }
  if (wake) ready_.notify_all();
  return true;
}

bool QueueState::place_ready_locked(Entry&& entry) noexcept {
  // Every insertion either completes or leaves `entry` where it was (the strong guarantee of
  // push_back / push_front with nothrow moves), so out of memory changes nothing.
  try {
    const MessageBody& body = *Access::body(entry.message);
    if (body.group_size != 0) {
      Group& group = slow_.groups[std::string(body.group())];
      const bool returning = entry.deliveries != 0;
      if (!group.queued && (returning || !group.busy)) {
        slow_.ready_groups.emplace_back(body.group());  // first: the only other allocation
        group.queued = true;
      }
      if (returning) {
        // The group's head comes back (after a nack or a lost consumer): it stays the head.
        group.entries.push_front(std::move(entry));
        group.busy = false;
      } else {
        group.entries.push_back(std::move(entry));
      }
      return true;
    }
    const std::size_t level = std::min<std::size_t>(body.priority, options_.max_priority);
    auto& entries = slow_.levels[level];
    if (entry.deliveries != 0) {
      // Redelivered messages go ahead of the new ones of their level (README, "Ordering").
      // deque::insert with nothrow moves: on bad_alloc, no effect.
      std::size_t& front = slow_.redelivered_front[level];
      entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(front), std::move(entry));
      ++front;
    } else {
      entries.push_back(std::move(entry));
    }
    ++slow_.level_items;
    return true;
  } catch (const std::bad_alloc&) {
    return false;  // a name queued in ready_groups for nothing is skipped by take_slow_locked
  }
}

void QueueState::refresh_slow_hints_locked() noexcept {
  // Release: a taker that acquires a non-zero hint and then takes the mutex finds the entry
  // (the mutex orders the data; the hint only says "look").
  slow_ready_.store(static_cast<std::uint32_t>(slow_.level_items + slow_.ready_groups.size()),
                    std::memory_order_release);
  next_due_ns_.store(slow_.delayed.empty() ? kNever : slow_.delayed.top().visible_at_ns,
                     std::memory_order_release);
}

// --- consumer side ---------------------------------------------------------------------

bool QueueState::maybe_ready(TimePoint now) const noexcept {
  return !ring_.empty_guess() || slow_ready_.load(std::memory_order_acquire) != 0 ||
         next_due_ns_.load(std::memory_order_acquire) <= ns(now);
}

TimePoint QueueState::next_wakeup() const noexcept {
  return TimePoint(Duration(std::min(next_due_ns_.load(std::memory_order_acquire),
                                     next_scan_ns_.load(std::memory_order_acquire))));
}

QueueState::Take QueueState::try_take(Entry& out, TimePoint now) noexcept {
  for (;;) {
    if (closed_for_receive()) return Take::closed;
    bool got = false;
    if (slow_ready_.load(std::memory_order_acquire) != 0 ||
        next_due_ns_.load(std::memory_order_acquire) <= ns(now)) {
      MutexLock lock(slow_.mutex);
      got = take_slow_locked(out, now);
      refresh_slow_hints_locked();
    }
    if (!got) {
      Message message;
      got = ring_.try_pop(message);
      if (!got) return Take::empty;
      out.expires_at_ns = expiry_of(*Access::body(message));
      out.deliveries = 0;
      out.message = std::move(message);
    }
    // Release: pairs with take_room_checked's acquire load, so a sender that sees the room also
    // sees the cell free. Seq_cst: it is also the change a blocked sender waits for, so the
    // wake-up needs no fence of its own (event_count.hpp).
    removed_.fetch_add(1, std::memory_order_seq_cst);
    if (options_.overflow == Overflow::block) space_.notify_one_after_seq_cst_rmw();
    remove_bytes(Access::body(out.message)->payload().size());
    if (out.expires_at_ns != 0 && ns(now) >= out.expires_at_ns) {
      expire(std::move(out));
      continue;
    }
    return Take::got;
  }
}

std::size_t QueueState::try_take_run(std::span<Entry> out, TimePoint now) noexcept {
  // A run that met only expired messages has taken nothing yet: look again, or the caller
  // would stop with messages still ready behind them.
  for (;;) {
    if (out.empty() || closed_for_receive()) return 0;
    if (slow_ready_.load(std::memory_order_acquire) != 0 ||
        next_due_ns_.load(std::memory_order_acquire) <= ns(now)) {
      // Priorities, groups and due messages keep their order rules: one at a time.
      return try_take(out.front(), now) == Take::got ? 1 : 0;
    }
    std::size_t popped = 0;
    ring_.try_pop_run(out.size(), [&](Message&& message) noexcept {
      // The body was written on the sender's core: start fetching it now, so the misses of the
      // whole run overlap instead of queueing up behind each other below.
      __builtin_prefetch(Access::body(message));
      out[popped++].message = std::move(message);
    });
    if (popped == 0) return 0;
    for (std::size_t i = 0; i < popped; ++i) {
      out[i].expires_at_ns = expiry_of(*Access::body(out[i].message));
      out[i].deliveries = 0;
      out[i].seq = 0;
    }
    // Seq_cst: as in try_take, one count for the whole run.
    removed_.fetch_add(popped, std::memory_order_seq_cst);
    if (options_.overflow == Overflow::block) space_.notify_all_after_seq_cst_rmw();
    if (options_.max_length_bytes != 0) [[unlikely]] {
      std::uint64_t bytes = 0;
      for (std::size_t i = 0; i < popped; ++i)
        bytes += Access::body(out[i].message)->payload().size();
      remove_bytes(bytes);
    }
    // Expired ones go to their dead-letter queue; the rest close up.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < popped; ++i) {
      if (out[i].expires_at_ns != 0 && ns(now) >= out[i].expires_at_ns) {
        expire(std::move(out[i]));
      } else if (kept++ != i) {
        out[kept - 1] = std::move(out[i]);
      }
    }
    if (kept != 0) return kept;
  }
}

bool QueueState::take_slow_locked(Entry& out, TimePoint now) {
  promote_due_locked(now);
  auto take_level = [&](std::size_t level) REQUIRES(slow_.mutex) {
    auto& entries = slow_.levels[level];
    out = std::move(entries.front());
    entries.pop_front();
    --slow_.level_items;
    if (slow_.redelivered_front[level] != 0) --slow_.redelivered_front[level];
    return true;
  };
  if (slow_.level_items != 0) {
    for (std::size_t level = slow_.levels.size() - 1; level > 0; --level) {
      if (!slow_.levels[level].empty()) return take_level(level);
    }
  }
  while (!slow_.ready_groups.empty()) {
    auto it = slow_.groups.find(slow_.ready_groups.front());
    slow_.ready_groups.pop_front();
    if (it == slow_.groups.end()) continue;
    Group& group = it->second;
    group.queued = false;
    if (group.busy || group.entries.empty()) continue;
    out = std::move(group.entries.front());
    group.entries.pop_front();
    group.busy = true;
    return true;
  }
  if (!slow_.levels[0].empty()) return take_level(0);
  return false;
}

void QueueState::promote_due_locked(TimePoint now) {
  while (!slow_.delayed.empty() && slow_.delayed.top().visible_at_ns <= ns(now)) {
    Entry& entry = slow_.delayed.top().entry;
    // A first delivery that may wait in the ring joins its tail now, behind what was sent
    // before it came due (queue_state.hpp, "Order at level 0"); the rest keep slow_'s rules.
    const bool placed = entry.deliveries == 0 && ring_eligible(*Access::body(entry.message))
                            ? ring_.try_push(std::move(entry.message))
                            : place_ready_locked(std::move(entry));
    // Out of memory: it stays due at the top of the heap (untouched), for the next try.
    if (!placed) return;
    slow_.delayed.pop();
  }
}

void QueueState::promote_due(std::int64_t now_ns) noexcept {
  MutexLock lock(slow_.mutex);
  promote_due_locked(TimePoint(Duration(now_ns)));
  refresh_slow_hints_locked();
}

void QueueState::release_group_locked(std::string_view name) {
  auto it = slow_.groups.find(std::string(name));
  if (it == slow_.groups.end()) return;
  Group& group = it->second;
  group.busy = false;
  if (group.entries.empty()) {
    if (!group.queued) slow_.groups.erase(it);
    return;
  }
  if (!group.queued) {
    group.queued = true;
    slow_.ready_groups.emplace_back(name);
  }
}

void QueueState::release_group(const Entry& entry) noexcept {
  const MessageBody& body = *Access::body(entry.message);
  if (body.group_size == 0) return;
  {
    MutexLock lock(slow_.mutex);
    release_group_locked(body.group());
    refresh_slow_hints_locked();
  }
  ready_.notify_all();
}

Status QueueState::settled(const Entry& entry) noexcept {
  if (inbox_ != nullptr) return inbox_->ack(entry);
  release_group(entry);
  if (!journal_) return {};
  return journal_->record_ack(entry.seq);
}

void QueueState::requeue(Entry&& entry, TimePoint now) noexcept {
  if (inbox_ != nullptr) {
    inbox_->requeue(std::move(entry));  // the server redelivers it, by its own rules
    return;
  }
  if (options_.max_deliveries != 0 && entry.deliveries >= options_.max_deliveries) {
    dead_letter(std::move(entry), reason::max_deliveries);
    return;
  }
  requeued_.fetch_add(1, std::memory_order_relaxed);
  admitted_.fetch_add(1, std::memory_order_acq_rel);
  const std::uint64_t bytes = Access::body(entry.message)->payload().size();
  add_bytes(bytes);  // it was counted in before: no limit check on the way back
  const Duration backoff = options_.retry_backoff.after(entry.deliveries, entry.message.id());
  const std::int64_t visible_at =
      backoff.count() > 0 ? saturating_add(ns(now), backoff.count()) : 0;
  if (!place(std::move(entry), visible_at, ns(now))) {
    // No memory to queue it again: dead-lettered (or dropped and counted), never lost unseen.
    admitted_.fetch_sub(1, std::memory_order_relaxed);
    requeued_.fetch_sub(1, std::memory_order_relaxed);
    remove_bytes(bytes);
    dead_letter(std::move(entry), reason::out_of_memory);
  }
}

bool QueueState::put_inbox(Entry&& entry) noexcept {
  if (closed_for_receive()) return false;
  {
    MutexLock lock(slow_.mutex);
    try {
      slow_.levels[0].push_back(std::move(entry));  // strong guarantee: on a throw, untouched
    } catch (const std::bad_alloc&) {
      return false;
    }
    ++slow_.level_items;  // at the back of level 0, whatever it is: the server's order
    admitted_.fetch_add(1, std::memory_order_acq_rel);
    refresh_slow_hints_locked();
  }
  ready_.notify_all();
  return true;
}

void QueueState::expire(Entry&& entry) noexcept {
  expired_.fetch_add(1, std::memory_order_relaxed);
  if (hooks_->intercepting()) [[unlikely]] {
    hooks_->each("on_expire",
                 [&](Interceptor& i) { i.on_expire(name_, entry.message, entry.deliveries); });
  }
  if (options_.on_expiry == OnExpiry::dead_letter) {
    dead_letter(std::move(entry), reason::expired);
    return;
  }
  release_group(entry);
  if (journal_) journal_failed("a drop", journal_->record_drop(entry.seq));
  if (hooks_->logging()) [[unlikely]]
    log_drop(reason::expired);
}

void QueueState::log_drop(std::string_view why) noexcept {
  std::uint64_t n = 0;
  if (!hooks_->due(drop_log_, n)) return;
  // Only fmt builds strings here (inside the logger's try): this function must not throw.
  if (dead_letter_ == nullptr) {
    hooks_->log().log(LogLevel::warning, "queue",
                      "queue '{}': {} message(s) dropped since the last report (latest: {}, no "
                      "dead-letter queue)",
                      name_, n, why);
  } else {
    hooks_->log().log(LogLevel::warning, "queue",
                      "queue '{}': {} message(s) dropped since the last report (latest: {}, "
                      "refused by dead-letter {} '{}')",
                      name_, n, why, to_string(dead_letter_->kind()), dead_letter_->name());
  }
}

void QueueState::log_handler_error(std::string_view what) noexcept {
  std::uint64_t n = 0;
  if (!hooks_->due(handler_log_, n)) return;
  hooks_->log().log(LogLevel::error, "consumer",
                    "queue '{}': a push consumer's handler threw: {} ({} exception(s) since the "
                    "last report)",
                    name_, what, n);
}

void QueueState::log_journal_failure(std::string_view record, const Status& status) noexcept {
  std::uint64_t n = 0;
  if (!hooks_->due(journal_log_, n)) return;
  hooks_->log().log(LogLevel::error, "queue",
                    "queue '{}': could not record {} in the journal: {}: {} ({} failure(s) since "
                    "the last report)",
                    name_, record, to_string(status.code()), status.message(), n);
}

void QueueState::dead_letter(Entry&& entry, std::string_view why) noexcept {
  if (inbox_ != nullptr) {
    inbox_->reject(std::move(entry), why);  // the server dead-letters it by its arguments
    return;
  }
  const MessageBody& body = *Access::body(entry.message);
  release_group(entry);  // the group goes on without its poison head
  // The source forgets the message only after the dead-letter queue has it (a crash in
  // between keeps it in both: at-least-once).
  struct Forget {
    QueueState* queue;
    std::uint64_t seq;
    ~Forget() {
      if (queue->journal_) {
        queue->journal_failed("a dead letter", queue->journal_->record_dead_letter(seq));
      }
    }
  } forget{this, entry.seq};
  auto send = [&]() noexcept {
    if (!dead_letter_) return false;
    // RabbitMQ: "Messages in such cycles (i.e. messages that reach the same queue twice) will
    // be dropped if there was no rejections in the entire cycle." A dead letter keeps its last
    // death only, so: one that died here before, by the broker's own hand, and dies here again
    // so, is dropped (a queue that dead-letters into itself through an exchange would else
    // loop — with drop_oldest, for ever).
    auto automatic = [](std::string_view r) {
      return r == reason::expired || r == reason::overflow || r == reason::max_deliveries ||
             r == reason::out_of_memory;
    };
    if (automatic(why) && body.headers().get(headers::death_queue) == name_ &&
        automatic(body.headers().get(headers::death_reason))) {
      return false;
    }
    try {
      Headers headers = body.headers()
                            .with(headers::death_queue, name_)
                            .with(headers::death_reason, why)
                            .with(headers::death_attempts, std::to_string(entry.deliveries));
      const std::string_view key = options_.dead_letter_routing_key.empty()
                                       ? body.key()
                                       : std::string_view(options_.dead_letter_routing_key);
      MessageBody* derived = MessageBody::derive(body, std::move(headers), key);
      derived->sent_ns = ns(clock_->now());  // the dead-letter queue's TTL counts from now
      Message dead = Access::adopt(derived);
      struct Guard {
        bool outer = dead_lettering;
        Guard() { dead_lettering = true; }
        ~Guard() { dead_lettering = outer; }
      } guard;
      return static_cast<bool>(dead_letter_->accept(std::move(dead), SendOptions{}));
    } catch (...) {
      // Out of memory building the dead letter: counted as dropped, never silent.
      return false;
    }
  };
  const bool sent = send();
  (sent ? dead_lettered_ : dropped_).fetch_add(1, std::memory_order_relaxed);
  if (hooks_->intercepting()) [[unlikely]] {
    const std::string_view to = sent ? std::string_view(dead_letter_->name()) : std::string_view();
    hooks_->each("on_dead_letter",
                 [&](Interceptor& i) { i.on_dead_letter(name_, entry.message, why, to); });
  }
  if (!sent && hooks_->logging()) [[unlikely]]
    log_drop(why);
}

// --- peek and extract (inspection, message moves) ---------------------------------------

std::size_t QueueState::lift_ring_locked(Entry& orphan) {
  std::size_t lifted = 0;
  Message message;
  while (ring_.try_pop(message)) {
    ++lifted;
    const std::int64_t expires = expiry_of(*Access::body(message));
    Entry entry{std::move(message), expires, 0, 0};
    try {
      slow_.levels[0].push_back(std::move(entry));  // strong guarantee: untouched on a throw
      ++slow_.level_items;
    } catch (const std::bad_alloc&) {
      // Out of order at ring_'s tail rather than lost; dead-lettered if even that fails.
      if (!ring_.try_push(std::move(entry.message))) orphan = std::move(entry);
      return lifted;
    }
  }
  return lifted;
}

void QueueState::dead_letter_orphan(Entry& orphan) noexcept {
  if (Access::body(orphan.message) == nullptr) return;
  removed_.fetch_add(1, std::memory_order_release);  // it leaves the queue
  remove_bytes(Access::body(orphan.message)->payload().size());
  dead_letter(std::move(orphan), reason::out_of_memory);
}

std::vector<PeekedMessage> QueueState::peek(std::size_t max) {
  std::vector<PeekedMessage> out;
  const TimePoint now = clock_->now();
  auto add = [&](const Entry& entry, MessageState state, std::int64_t visible_at) {
    const MessageBody& body = *Access::body(entry.message);
    out.push_back(PeekedMessage{state,
                                body.id,
                                entry.deliveries,
                                Duration(std::max<std::int64_t>(0, ns(now) - body.sent_ns)),
                                TimePoint(Duration(visible_at)),
                                {},
                                entry.message});
  };
  Entry orphan;  // message null: none
  std::size_t lifted = 0;
  {
    MutexLock lock(slow_.mutex);
    lifted = lift_ring_locked(orphan);
    refresh_slow_hints_locked();
    // Ready, in the order take_slow_locked takes them: higher levels, groups, level 0.
    auto level = [&](std::size_t p) REQUIRES(slow_.mutex) {
      for (const Entry& e : slow_.levels[p]) {
        if (out.size() >= max) return;
        add(e, MessageState::ready, ns(now));
      }
    };
    for (std::size_t p = slow_.levels.size() - 1; p > 0; --p) level(p);
    for (const auto& [name, group] : slow_.groups) {
      for (const Entry& e : group.entries) {
        if (out.size() >= max) break;
        add(e, MessageState::ready, ns(now));
      }
    }
    level(0);
    // Delayed, by due time (the heap's order is not its storage order).
    std::vector<const Delayed*> delayed;
    struct Peek : std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> {
      static const std::vector<Delayed>& items(const priority_queue& q) { return q.*(&Peek::c); }
    };
    for (const Delayed& d : Peek::items(slow_.delayed)) delayed.push_back(&d);
    std::sort(delayed.begin(), delayed.end(),
              [](const Delayed* a, const Delayed* b) { return *b > *a; });
    for (const Delayed* d : delayed) {
      if (out.size() >= max) break;
      add(d->entry, MessageState::delayed, d->visible_at_ns);
    }
  }
  if (lifted != 0) ready_.notify_all();  // see lift_ring_locked
  dead_letter_orphan(orphan);
  if (out.size() < max) {
    std::vector<ConsumerState::HeldView> held;
    SharedLock lock(consumers_mutex_);
    for (const ConsumerState* consumer : consumers_) {
      held.clear();
      consumer->held(held, max - out.size());
      for (const ConsumerState::HeldView& h : held) {
        out.push_back(PeekedMessage{MessageState::in_flight,
                                    h.id,
                                    h.attempt,
                                    Duration(std::max<std::int64_t>(0, ns(now) - h.sent_ns)),
                                    TimePoint(Duration(h.deadline_ns)),
                                    consumer->tag(),
                                    {}});
      }
    }
  }
  return out;
}

void QueueState::extract(const std::function<bool(const Entry&)>& take, std::size_t max,
                         std::vector<Entry>& out) {
  Entry orphan;  // message null: none
  std::size_t taken = 0;
  std::uint64_t taken_bytes = 0;
  std::size_t lifted = 0;
  {
    MutexLock lock(slow_.mutex);
    lifted = lift_ring_locked(orphan);
    // From one deque, in order; `front`: how many at its head are redeliveries (or null).
    auto from = [&](std::deque<Entry>& entries, std::size_t* front) {
      for (std::size_t i = 0; i < entries.size() && taken < max;) {
        if (!take(entries[i])) {
          ++i;
          continue;
        }
        const std::uint64_t bytes = Access::body(entries[i].message)->payload().size();
        out.push_back(std::move(entries[i]));  // may throw: then the entry is still in place
        taken_bytes += bytes;
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));  // nothrow moves
        if (front != nullptr && i < *front) --*front;
        ++taken;
      }
    };
    try {
      for (std::size_t p = slow_.levels.size() - 1; p > 0; --p) {
        const std::size_t before = taken;
        from(slow_.levels[p], &slow_.redelivered_front[p]);
        slow_.level_items -= taken - before;
      }
      for (auto& [name, group] : slow_.groups) from(group.entries, nullptr);
      const std::size_t before = taken;
      from(slow_.levels[0], &slow_.redelivered_front[0]);
      slow_.level_items -= taken - before;
    } catch (const std::bad_alloc&) {
      // Out of memory for `out`: what was extracted so far is the answer.
      std::size_t items = 0;
      for (const auto& level : slow_.levels) items += level.size();
      slow_.level_items = items;
    }
    refresh_slow_hints_locked();
  }
  if (taken != 0) {
    // Seq_cst: as in try_take (blocked senders wait for this change).
    removed_.fetch_add(taken, std::memory_order_seq_cst);
    remove_bytes(taken_bytes);
    if (options_.overflow == Overflow::block) space_.notify_all_after_seq_cst_rmw();
  }
  if (lifted != 0) ready_.notify_all();  // see lift_ring_locked
  dead_letter_orphan(orphan);
}

void QueueState::restore(std::span<Entry> entries) noexcept {
  if (entries.empty()) return;
  admitted_.fetch_add(entries.size(), std::memory_order_acq_rel);
  if (options_.max_length_bytes != 0) [[unlikely]] {
    // They were counted in before: no limit check on the way back.
    for (const Entry& entry : entries) add_bytes(Access::body(entry.message)->payload().size());
  }
  std::size_t placed = 0;
  {
    MutexLock lock(slow_.mutex);
    // Back where they were taken from: at the head of their level's first deliveries, in
    // order (a group's at its tail).
    std::vector<std::size_t> at(slow_.levels.size(), 0);
    for (; placed < entries.size(); ++placed) {
      Entry& entry = entries[placed];
      const MessageBody& body = *Access::body(entry.message);
      if (body.group_size != 0) {
        if (!place_ready_locked(std::move(entry))) break;
        continue;
      }
      const std::size_t level = std::min<std::size_t>(body.priority, options_.max_priority);
      auto& list = slow_.levels[level];
      try {
        list.insert(
            list.begin() + static_cast<std::ptrdiff_t>(slow_.redelivered_front[level] + at[level]),
            std::move(entry));  // nothrow moves: on bad_alloc, no effect
      } catch (const std::bad_alloc&) {
        break;
      }
      ++at[level];
      ++slow_.level_items;
    }
    refresh_slow_hints_locked();
  }
  ready_.notify_all();
  // No memory for the rest: dead-lettered (or dropped and counted), never lost unseen.
  for (std::size_t i = placed; i < entries.size(); ++i) {
    admitted_.fetch_sub(1, std::memory_order_relaxed);
    remove_bytes(Access::body(entries[i].message)->payload().size());
    dead_letter(std::move(entries[i]), reason::out_of_memory);
  }
}

bool QueueState::forget(std::uint64_t seq, MessageId id) noexcept {
  std::vector<Entry> found;
  try {
    extract([&](const Entry& e) { return e.seq == seq && e.message.id() == id; }, 1, found);
  } catch (...) {
    return false;
  }
  if (found.empty()) return false;
  // It left for the queue that holds its copy: settled here as a dead letter is (it was not
  // in flight, so its group, if any, is not held by it).
  if (journal_) journal_failed("a move", journal_->record_dead_letter(seq));
  return true;
}

Status QueueState::accept_moved(Message&& message, const std::function<Status()>& commit) noexcept {
  if (closed_for_send()) return Status(Errc::closed, "queue '" + name_ + "' is closed");
  if (message.payload().size() > options_.max_payload) {
    return Status(Errc::payload_too_large, "payload exceeds queue '" + name_ + "' limit");
  }
  if (!try_reserve_capacity(1)) {
    rejected_full_.fetch_add(1, std::memory_order_relaxed);
    return Status(Errc::full, "queue '" + name_ + "' is full");
  }
  const std::uint64_t bytes = message.payload().size();
  if (options_.max_length_bytes != 0) [[unlikely]] {
    // As its count: refused, never waited for, when the bytes would pass the limit.
    if (bytes_.fetch_add(bytes, std::memory_order_acq_rel) + bytes > options_.max_length_bytes) {
      bytes_.fetch_sub(bytes, std::memory_order_acq_rel);
      admitted_.fetch_sub(1, std::memory_order_relaxed);
      space_.notify_all();
      rejected_full_.fetch_add(1, std::memory_order_relaxed);
      return Status(Errc::full, "queue '" + name_ + "' is over its max_length_bytes");
    }
  }
  std::uint64_t seq = 0;
  if (journal_) {
    DeferredCompletion* none = nullptr;  // no on_complete: nobody to report to
    auto appended = journal_append(message, SendOptions{}, none);
    if (!appended) {
      admitted_.fetch_sub(1, std::memory_order_relaxed);
      remove_bytes(bytes);
      space_.notify_all();
      return Status(appended.failure());
    }
    seq = *appended;
  }
  // The commit point is the source's record: until it is written nobody may see this copy.
  Status committed = Status(Errc::out_of_memory);
  try {
    committed = commit();
  } catch (...) {
  }
  if (!committed) {
    if (journal_) journal_failed("a drop", journal_->record_drop(seq));
    admitted_.fetch_sub(1, std::memory_order_relaxed);
    remove_bytes(bytes);
    space_.notify_all();
    return committed;
  }
  const std::int64_t now = ns(clock_->now());
  const std::int64_t expires = expiry_of(*Access::body(message));
  Entry entry{std::move(message), expires, 0, seq};
  if (!place(std::move(entry), 0, now)) {
    // The source has let go of it: dead-lettered (or dropped and counted), never lost unseen.
    admitted_.fetch_sub(1, std::memory_order_relaxed);
    remove_bytes(bytes);
    dead_letter(std::move(entry), reason::out_of_memory);
  }
  return {};
}

// --- visibility ------------------------------------------------------------------------

void QueueState::note_delivery_deadline(std::int64_t deadline_ns) noexcept {
  if (next_scan_ns_.load(std::memory_order_relaxed) == kNever)
    fetch_min(next_scan_ns_, deadline_ns);
}

void QueueState::note_earlier_deadline(std::int64_t deadline_ns) noexcept {
  fetch_min(next_scan_ns_, deadline_ns);
  ready_.notify_all();  // a receive parked until the old next wake-up must look again
}

void QueueState::scan_visibility(TimePoint now) noexcept {
  // A queue without a visibility timeout has a deadline only where change_visibility set one
  // (next_scan_ns_ stays "never" otherwise).
  std::int64_t due = next_scan_ns_.load(std::memory_order_relaxed);
  if (ns(now) < due) return;
  // Claim the scan: exactly one thread moves the due time from `due` to "never".
  if (!next_scan_ns_.compare_exchange_strong(due, kNever, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
    return;
  }
  std::int64_t earliest = kNever;
  {
    SharedLock lock(consumers_mutex_);
    for (ConsumerState* consumer : consumers_)
      earliest = std::min(earliest, consumer->reclaim(now));
  }
  // Deliveries made during the scan may have lowered it already; keep the smaller.
  fetch_min(next_scan_ns_, earliest);
}

void QueueState::register_consumer(ConsumerState* consumer) {
  MutexLock lock(consumers_mutex_);
  consumers_.push_back(consumer);
  // RabbitMQ: "the first consumer registered becomes the single active consumer".
  // Release: pairs with may_receive's acquire.
  if (options_.single_active_consumer && active_.load(std::memory_order_relaxed) == nullptr)
    active_.store(consumer, std::memory_order_release);
  // Release: pairs with unused_since_ns()'s acquire (the expiry thread's look).
  unused_since_ns_.store(INT64_MAX, std::memory_order_release);
}

void QueueState::unregister_consumer(ConsumerState* consumer) noexcept {
  bool last = false;
  {
    MutexLock lock(consumers_mutex_);
    auto it = std::find(consumers_.begin(), consumers_.end(), consumer);
    if (it == consumers_.end()) return;
    consumers_.erase(it);
    // The successor is elected once the closing consumer has put back what it held
    // (elect_active_consumer), so it meets those messages first. Release: as in register.
    if (active_.load(std::memory_order_relaxed) == consumer)
      active_.store(nullptr, std::memory_order_release);
    retired_acked_.fetch_add(consumer->acked(), std::memory_order_relaxed);
    retired_nacked_.fetch_add(consumer->nacked(), std::memory_order_relaxed);
    const ConsumerState::YoungAges young = consumer->young_ages();
    for (std::size_t b = 0; b < ConsumerState::kSlotAgeBuckets; ++b)
      retired_young_ages_[b].fetch_add(young.counts[b], std::memory_order_relaxed);
    retired_young_age_ns_.fetch_add(young.sum_ns, std::memory_order_relaxed);
    last = consumers_.empty();
    if (last) {
      // Release: as in register_consumer.
      unused_since_ns_.store(clock_->now().time_since_epoch().count(), std::memory_order_release);
    }
  }
  if (!last) return;
  if (inbox_ != nullptr) {
    inbox_->consumer_closed();
    return;
  }
  // Outside the lock: retiring takes the registry's and the exchanges' locks. Only a queue that
  // had a consumer gets here, as RabbitMQ's auto-delete wants.
  if (options_.auto_delete) {
    retire();  // RabbitMQ: "deleted when its last consumer is cancelled"
  } else if (options_.expires.count() > 0 && lifecycle_.unused) {
    lifecycle_.unused(*this);
  }
}

void QueueState::elect_active_consumer() noexcept {
  if (!options_.single_active_consumer) return;
  {
    MutexLock lock(consumers_mutex_);
    if (active_.load(std::memory_order_relaxed) != nullptr || consumers_.empty()) return;
    // RabbitMQ: "the next consumer registered takes over". Release: as in register.
    active_.store(consumers_.front(), std::memory_order_release);
  }
  ready_.notify_all();  // the successor may be parked with messages ready
}

std::size_t QueueState::purge() noexcept {
  // Where slow_'s entries wait between leaving it (under its mutex) and being dropped.
  std::vector<std::deque<Entry>> levels;
  std::vector<std::deque<Entry>> grouped;
  decltype(slow_.delayed) delayed;
  try {
    levels.resize(static_cast<std::size_t>(options_.max_priority) + 1);  // slow_.levels' size
  } catch (const std::bad_alloc&) {
    return 0;  // out of memory: nothing purged
  }
  std::size_t purged = 0;
  std::uint64_t bytes = 0;
  auto count = [&](const Message& message) noexcept {
    ++purged;
    bytes += Access::body(message)->payload().size();
  };
  Message message;
  while (ring_.try_pop(message)) {
    count(message);
    message = Message();
  }
  // slow_'s entries leave under its mutex; their journal records (and their destruction) wait
  // until it is released.
  {
    MutexLock lock(slow_.mutex);
    for (std::size_t p = 0; p < slow_.levels.size(); ++p) {
      levels[p].swap(slow_.levels[p]);
      slow_.redelivered_front[p] = 0;
    }
    slow_.level_items = 0;
    try {
      grouped.reserve(slow_.groups.size());
    } catch (const std::bad_alloc&) {
      // Without room to hold them aside, groups are emptied in place below.
    }
    for (auto it = slow_.groups.begin(); it != slow_.groups.end();) {
      Group& group = it->second;
      if (grouped.size() < grouped.capacity()) {
        grouped.emplace_back().swap(group.entries);
      } else {
        for (Entry& entry : group.entries) {
          if (journal_) journal_failed("a purge", journal_->record_drop(entry.seq));
          count(entry.message);
        }
        group.entries.clear();
      }
      group.queued = false;
      // A group whose head is in flight stays, busy, until that delivery is settled.
      it = group.busy ? std::next(it) : slow_.groups.erase(it);
    }
    slow_.ready_groups.clear();
    // Delayed first deliveries go; retries waiting out their backoff are deliveries under way
    // (a group's may be its busy head), as in-flight ones are: they stay.
    decltype(slow_.delayed) waiting;
    waiting.swap(slow_.delayed);
    for (; !waiting.empty(); waiting.pop()) {
      Delayed& top = const_cast<Delayed&>(waiting.top());
      try {
        if (top.entry.deliveries == 0) {
          delayed.push(std::move(top));
        } else {
          slow_.delayed.push(std::move(top));
        }
      } catch (const std::bad_alloc&) {
        // No memory to keep it aside: purged with the rest (counted, journaled).
        if (journal_) journal_failed("a purge", journal_->record_drop(top.entry.seq));
        count(top.entry.message);
      }
    }
    refresh_slow_hints_locked();
  }
  auto drop = [&](const Entry& entry) noexcept {
    if (journal_) journal_failed("a purge", journal_->record_drop(entry.seq));
    count(entry.message);
  };
  for (const auto& level : levels)
    for (const Entry& entry : level) drop(entry);
  for (const auto& group : grouped)
    for (const Entry& entry : group) drop(entry);
  for (; !delayed.empty(); delayed.pop()) drop(delayed.top().entry);
  if (purged != 0) {
    purged_.fetch_add(purged, std::memory_order_relaxed);
    // Release: as every take's (a sender that sees the room sees the cells free).
    removed_.fetch_add(purged, std::memory_order_seq_cst);
    remove_bytes(bytes);
    space_.notify_all();
  }
  return purged;
}

bool QueueState::expired(TimePoint now) const noexcept {
  if (options_.expires.count() <= 0) return false;
  const std::int64_t since = unused_since_ns();
  return since != INT64_MAX &&
         now.time_since_epoch().count() >= saturating_add(since, options_.expires.count());
}

void QueueState::touch() noexcept {
  MutexLock lock(consumers_mutex_);
  if (!consumers_.empty()) return;
  // Release: as in register_consumer.
  unused_since_ns_.store(clock_->now().time_since_epoch().count(), std::memory_order_release);
}

void QueueState::retire() noexcept {
  // Acq_rel: the one caller that flips it runs the hook; the others see it done.
  if (retiring_.exchange(true, std::memory_order_acq_rel)) return;
  if (lifecycle_.retire) lifecycle_.retire(*this);
}

// --- lifecycle and stats ---------------------------------------------------------------

void QueueState::close(bool drain) noexcept {
  send_closed_.store(true, std::memory_order_release);
  if (!drain) {
    receive_closed_.store(true, std::memory_order_release);
    // Closed for good: nothing this queue's handles do from now on may reach its files
    // (queue_journal.hpp, Retirement).
    if (journal_) journal_->retire();
  }
  ready_.notify_all();
  space_.notify_all();
}

bool QueueState::idle() const noexcept {
  if (depth() != 0) return false;
  SharedLock lock(consumers_mutex_);
  return std::all_of(consumers_.begin(), consumers_.end(),
                     [](const ConsumerState* c) { return c->in_flight() == 0; });
}

std::size_t QueueState::depth() const noexcept {
  const std::uint64_t removed = removed_.load(std::memory_order_acquire);
  const std::uint64_t admitted = admitted_.load(std::memory_order_acquire);
  return admitted > removed ? static_cast<std::size_t>(admitted - removed) : 0;
}

std::size_t QueueState::consumer_count() const {
  SharedLock lock(consumers_mutex_);
  return consumers_.size();
}

QueueStats QueueState::stats() const {
  QueueStats s;
  s.name = name();
  s.depth = depth();
  auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  // The slots' first-bucket ages (ConsumerState::young_ages), added to the recorder's below.
  ConsumerState::YoungAges young;
  for (std::size_t b = 0; b < ConsumerState::kSlotAgeBuckets; ++b)
    young.counts[b] = load(retired_young_ages_[b]);
  young.sum_ns = load(retired_young_age_ns_);
  {
    SharedLock lock(consumers_mutex_);
    s.consumers = consumers_.size();
    for (const ConsumerState* c : consumers_) {
      s.in_flight += c->in_flight();
      s.acked += c->acked();
      s.nacked += c->nacked();
      young.add(c->young_ages());
    }
  }
  s.acked += load(retired_acked_);
  s.nacked += load(retired_nacked_);
  s.enqueued = load(admitted_) - load(requeued_);
  s.deduplicated = load(deduplicated_);
  s.expired = load(expired_);
  s.purged = load(purged_);
  s.delivered = load(removed_) - s.expired - load(overflow_removed_) - s.purged;
  s.bytes = load(bytes_);
  s.redelivered = load(redelivered_);
  s.dead_lettered = load(dead_lettered_);
  s.dropped = load(dropped_);
  s.rejected_full = load(rejected_full_);
  s.handler_errors = load(handler_errors_);
  s.recovered = recovery_.restored;
  s.recovery_truncated_bytes = recovery_.truncated_bytes;
  s.recovery_removed_segments = recovery_.removed_segments;
  s.recovery_skipped_regions = recovery_.corrupt_regions_skipped;
  s.recovery_skipped_bytes = recovery_.corrupt_bytes_skipped;
  s.delivery_age = delivery_age_.snapshot();
  for (std::size_t b = 0; b < ConsumerState::kSlotAgeBuckets; ++b)
    s.delivery_age.counts[b] += young.counts[b];
  s.delivery_age.sum_ns += young.sum_ns;
  return s;
}

}  // namespace switchyard::detail
