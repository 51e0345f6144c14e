// A topic's state: partitioning, appends, fan-out to subscribed queues. Design: topic_state.hpp.
#include <algorithm>
#include <string>

#include "durable/durable_partition_log.hpp"
#include "queue/queue_state.hpp"
#include "route/send_completion.hpp"
#include "switchyard/broker.hpp"
#include "switchyard/detail/deadline.hpp"
#include "sync/broker_thread.hpp"
#include "topic/topic_state.hpp"
#include "util/access.hpp"
#include "util/murmur2.hpp"
#include "util/time.hpp"

namespace switchyard {

namespace detail {

namespace {

/// How far before the last window recover_dedup starts reading (see there).
constexpr std::int64_t kDedupScanMarginNs = 1'000'000'000;

}  // namespace

// --- TopicState ------------------------------------------------------------------------

TopicState::TopicState(std::string name, TopicOptions options, std::shared_ptr<Clock> clock,
                       TopicStorage storage, std::shared_ptr<const Hooks> hooks)
    : name_(std::move(name)),
      options_(options),
      clock_(std::move(clock)),
      hooks_(hooks ? std::move(hooks) : Hooks::none()),
      logs_(std::move(storage.partitions)),
      recovery_(std::move(storage.recovery)) {
  if (!durable()) {
    // Cleanup::compact: no retention; compaction alone bounds the log.
    const Retention retention =
        options_.cleanup == Cleanup::compact ? Retention{0, 0, Duration(0)} : options_.retention;
    logs_.reserve(options_.partitions);
    for (std::uint32_t p = 0; p < options_.partitions; ++p) {
      logs_.push_back(std::make_unique<MemoryPartitionLog>(p, retention));
    }
  } else {
    accepts_fields_ = true;  // records are encoded into the log; no Message is kept
    defers_completion_ = options_.durability == Durability::batch;
    checkpoint_ = std::move(storage.offsets);
    // A group known before the restart is known after it, with its committed positions.
    for (std::string& group : checkpoint_->groups()) {
      auto state = std::make_shared<GroupState>(*this, group, nullptr);
      groups_.emplace(std::move(group), std::move(state));
    }
    recover_dedup();
  }
  if (compacted()) compactor_ = start_thread(clock_, [this] { run_compactor(); });
}

TopicState::~TopicState() {
  if (compactor_.joinable()) {
    // Seq_cst store, then notify: pairs with the check inside the compactor's park.
    compactor_stop_.store(true, std::memory_order_seq_cst);
    compactor_wake_.notify_all();
    compactor_.join();
  }
}

void TopicState::run_compactor() noexcept {
  auto stopping = [this]() noexcept { return compactor_stop_.load(std::memory_order_seq_cst); };
  for (;;) {
    const TimePoint due = clock_->now() + kCompactionInterval;
    for (TimePoint now = clock_->now(); now < due && !stopping(); now = clock_->now()) {
      IdleWait::park(compactor_wake_, stopping, now, due, *clock_, Duration::max(), /*tick=*/true);
    }
    if (stopping()) return;
    // A failed pass leaves the log as it was; the next interval tries again.
    (void)compact_now();
  }
}

Result<std::uint64_t> TopicState::compact_now() noexcept {
  if (!compacted()) return std::uint64_t{0};
  const std::int64_t now = ns(clock_->now());
  const std::int64_t delete_retention = options_.delete_retention.count();
  std::uint64_t removed = 0;
  Status first_failure;
  for (std::uint32_t p = 0; p < options_.partitions; ++p) {
    auto pass = logs_[p]->compact(now, delete_retention);
    if (!pass) {
      if (first_failure) {
        first_failure = Status(pass.code(), "topic '" + name_ + "' partition " + std::to_string(p) +
                                                ": compaction: " + pass.message());
      }
      continue;
    }
    if (*pass > 0) compactions_.fetch_add(1, std::memory_order_relaxed);
    removed += *pass;
  }
  if (!first_failure) return Result<std::uint64_t>(first_failure.failure());
  return removed;
}

void TopicState::recover_dedup() {
  const Stamp stamp = clock_->stamp();
  const std::int64_t wall_now = stamp.wall.time_since_epoch().count();
  const std::int64_t mono_minus_wall = stamp.now.time_since_epoch().count() - wall_now;
  std::vector<std::pair<std::uint32_t, StoredDedup>> ids;
  for (std::uint32_t p = 0; p < logs_.size(); ++p) {
    const SegmentLog& log = static_cast<const DurablePartitionLog&>(*logs_[p]).log();
    // Records are stamped with their send's wall time, so an id whose window has not ended
    // was sent within the last window: the scan starts there, not at the log's start (a
    // second earlier: the window opened at the append, a moment after the send's stamp).
    const std::int64_t since = saturating_add(
        saturating_add(wall_now, -options_.dedup_window.count()), -kDedupScanMarginNs);
    auto from = log.offset_for_timestamp(since);
    auto found = collect_stored_dedup(log, from ? *from : log.start_offset(), wall_now);
    if (!found) {
      throw Error(found.code(), "topic '" + name_ + "' partition " + std::to_string(p) +
                                    ": recovering its dedup ids: " + found.message());
    }
    for (StoredDedup& d : *found) ids.emplace_back(p, std::move(d));
  }
  std::stable_sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) {
    return a.second.until_ns < b.second.until_ns;
  });
  MutexLock lock(dedup_mutex_);
  for (const auto& [partition, d] : ids) {
    // What the first send was told (append_new's receipt).
    const SendReceipt first{d.message_id, false, partition, d.offset,
                            persisted_on_return(options_.durability)};
    dedup_.restore(d.id, first, rebase_deadline(d.until_ns, mono_minus_wall));
  }
}

std::string TopicState::partition_error(std::uint64_t partition) const {
  return "partition " + std::to_string(partition) + " of topic '" + name_ + "' does not exist (" +
         std::to_string(options_.partitions) + " partitions)";
}

template <class Append>
Result<SendReceipt> TopicState::append_record(MessageId id, std::size_t payload_size,
                                              std::string_view key, const SendOptions& options,
                                              const Message* fan_copy, Append&& append) noexcept {
  if (options.dedup_id.empty()) [[likely]]
    return append_new(id, payload_size, key, options, fan_copy, std::forward<Append>(append), 0);
  // The queue's mechanism (util/dedup_window.hpp), keyed by the producer's id: SQS FIFO's
  // "messages with the same deduplication id sent within the interval are accepted
  // successfully but not delivered", here not appended.
  MutexLock lock(dedup_mutex_);
  const std::int64_t now = clock_->now().time_since_epoch().count();
  const std::int64_t until = saturating_add(now, options_.dedup_window.count());
  std::pair<SendReceipt*, bool> seen;
  try {
    seen = dedup_.remember(options.dedup_id, SendReceipt{}, now, until);
  } catch (const std::bad_alloc&) {
    return Result<SendReceipt>(Errc::out_of_memory);
  }
  if (!seen.second) {
    deduplicated_.fetch_add(1, std::memory_order_relaxed);
    SendReceipt duplicate = *seen.first;
    duplicate.duplicate = true;
    if (defers_completion()) report_now(options, duplicate);  // nothing more to sync
    return duplicate;
  }
  auto appended =
      append_new(id, payload_size, key, options, fan_copy, std::forward<Append>(append), until);
  if (appended) {
    *seen.first = *appended;  // what a duplicate will be told
  } else {
    dedup_.forget(options.dedup_id);  // not appended, so not seen: a retry must get in
  }
  return appended;
}

template <class Append>
Result<SendReceipt> TopicState::append_new(MessageId id, std::size_t payload_size,
                                           std::string_view key, const SendOptions& options,
                                           const Message* fan_copy, Append&& append,
                                           std::int64_t dedup_until_ns) noexcept {
  if (closed_for_send())
    return Result<SendReceipt>(Errc::closed, "topic '" + name_ + "' is closed");
  if (payload_size > options_.max_payload) {
    return Result<SendReceipt>(Errc::payload_too_large,
                               "payload of " + std::to_string(payload_size) +
                                   " bytes exceeds topic '" + name_ + "' limit of " +
                                   std::to_string(options_.max_payload));
  }
  if (key.empty() && options_.cleanup != Cleanup::delete_records) {
    // Kafka: "Compacted topic cannot accept message without key".
    return Result<SendReceipt>(Errc::invalid_argument,
                               "topic '" + name_ + "' is compacted: every record needs a key");
  }
  std::uint32_t partition = 0;
  if (options.partition) {
    if (*options.partition >= options_.partitions) {
      return Result<SendReceipt>(Errc::out_of_range, partition_error(*options.partition));
    }
    partition = *options.partition;
  } else if (!key.empty()) {
    partition = kafka_partition(key, options_.partitions);
  } else if (options_.partitions > 1) {
    // Relaxed: only the spread matters.
    partition = static_cast<std::uint32_t>(next_keyless_.fetch_add(1, std::memory_order_relaxed) %
                                           options_.partitions);
  }
  SendReceipt receipt{id, false, partition, 0, persisted_on_return(options_.durability)};
  DeferredCompletion* deferred = nullptr;
  Completion done;
  if (defers_completion()) {
    try {
      deferred = DeferredCompletion::create(options);
      if (deferred != nullptr) done = deferred->on_synced();
    } catch (const std::bad_alloc&) {
      return Result<SendReceipt>(Errc::out_of_memory);
    }
  }
  auto offset = append(partition, std::move(done), dedup_until_ns);
  if (!offset) {
    if (deferred != nullptr) deferred->cancel();  // its completion never fires
    if (offset.code() == Errc::closed || offset.code() == Errc::payload_too_large) {
      return Result<SendReceipt>(offset.failure());
    }
    return Result<SendReceipt>(
        offset.code(),
        "topic '" + name_ + "' partition " + std::to_string(partition) + ": " + offset.message());
  }
  appended_.notify_all();
  if (fan_copy != nullptr) fan_out(*fan_copy, options);
  receipt.offset = *offset;
  if (deferred != nullptr) deferred->accepted(receipt);
  return receipt;
}

Result<SendReceipt> TopicState::accept(Message&& message, const SendOptions& options) noexcept {
  const bool fan = has_subscriptions_.load(std::memory_order_acquire);
  Message copy;
  if (fan) copy = message;  // one reference-count increment
  // A memory log times a record by its send stamp (taken by the producer on this broker's
  // clock, like Kafka's CreateTime), so the append path reads no clock; a durable log ignores
  // the append time (it stamps records with the message's wall time).
  const std::int64_t now_ns = durable() ? 0 : Access::body(message)->sent_ns;
  return append_record(
      message.id(), message.payload().size(), message.key(), options, fan ? &copy : nullptr,
      [&](std::uint32_t partition, Completion done,
          std::int64_t dedup_until_ns) noexcept -> Result<std::uint64_t> {
        if (!durable() || options.dedup_id.empty()) {
          return logs_[partition]->append(std::move(message), now_ns, std::move(done));
        }
        // The dedup id is stored with the record (util/dedup_window.hpp): encoded from fields.
        std::string object_bytes;
        auto fields = fields_of(message, object_bytes);
        if (!fields) return Result<std::uint64_t>(fields.failure());
        fields->dedup_id = options.dedup_id;
        fields->dedup_until_ns = dedup_until_ns;
        auto offset =
            static_cast<DurablePartitionLog&>(*logs_[partition]).append(*fields, std::move(done));
        if (offset) message = Message();  // the log holds the bytes now (as the log's append)
        return offset;
      });
}

std::optional<Result<SendReceipt>> TopicState::accept_fields(const MessageFields& fields,
                                                             const SendOptions& options) noexcept {
  // A subscribed queue shares the Message: build one (the caller does). A subscription made
  // after this load misses this send, as if the send came first (accept reads it once too).
  if (has_subscriptions_.load(std::memory_order_acquire)) return std::nullopt;
  return append_record(
      fields.id, fields.payload.size(), fields.key, options, nullptr,
      [&](std::uint32_t partition, Completion done, std::int64_t dedup_until_ns) noexcept {
        // Every log of a topic that accepts_fields() is a DurablePartitionLog. The dedup id
        // is stored with the record (util/dedup_window.hpp).
        MessageFields stored = fields;
        stored.dedup_id = options.dedup_id;
        stored.dedup_until_ns = options.dedup_id.empty() ? 0 : dedup_until_ns;
        return static_cast<DurablePartitionLog&>(*logs_[partition]).append(stored, std::move(done));
      });
}

std::optional<std::uint64_t> TopicState::stored_offset(std::string_view group,
                                                       std::uint32_t partition) const {
  MutexLock lock(checkpoint_mutex_);
  if (!checkpoint_) return std::nullopt;
  return checkpoint_->find(group, partition);
}

Status TopicState::store_commits(
    const std::string& group,
    std::span<const std::pair<std::uint32_t, std::uint64_t>> offsets) noexcept {
  if (!durable() || offsets.empty()) return {};
  MutexLock lock(checkpoint_mutex_);
  if (storage_destroyed_) {
    return Status(Errc::closed, "topic '" + name_ + "' is closed (deleted, or its broker shut down)");
  }
  try {
    auto status = checkpoint_->commit(group, offsets);
    if (!status) {
      return Status(Errc::io_error, "committing offsets of group '" + group + "' on topic '" +
                                        name_ + "': " + status.message());
    }
    return {};
  } catch (const std::bad_alloc&) {
    return Status(Errc::out_of_memory);
  }
}

void TopicState::retire_storage() noexcept {
  if (!durable()) return;
  for (auto& log : logs_) static_cast<DurablePartitionLog&>(*log).retire();
  MutexLock lock(checkpoint_mutex_);
  storage_destroyed_ = true;
}

void TopicState::fan_out(const Message& message, const SendOptions& options) noexcept {
  std::shared_ptr<const Subscriptions> subscriptions;
  {
    MutexLock lock(subscriptions_mutex_);
    subscriptions = subscriptions_;
  }
  if (!subscriptions) return;
  // The send is reported once, by whoever called this topic (send_completion.hpp).
  std::optional<SendOptions> spare;
  const SendOptions* const forwarded = without_completion(options, spare);
  for (const Subscription& s : *subscriptions) {
    if (!s.filter.matches(message.headers())) continue;
    auto accepted = forwarded != nullptr ? s.queue->accept(Message(message), *forwarded)
                                         : Result<SendReceipt>(Errc::out_of_memory);
    if (accepted) {
      fanned_out_.fetch_add(1, std::memory_order_relaxed);
    } else {
      fan_out_failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void TopicState::close(bool drain) noexcept {
  send_closed_.store(true, std::memory_order_release);
  if (!drain) {
    receive_closed_.store(true, std::memory_order_release);
    // Closed for good (the broker's shutdown, or a delete): a group member or handle that
    // outlives the broker must not write into files a broker reopened on the same data
    // directory has open — its commit would overwrite the new broker's checkpoint (as the
    // queue journal's Retirement, durable/queue_journal.hpp).
    retire_storage();
  }
  appended_.notify_all();
}

std::shared_ptr<GroupState> TopicState::group(std::string_view name,
                                              const GroupConsumerOptions& options) {
  {
    SharedLock lock(groups_mutex_);
    auto it = groups_.find(name);
    if (it != groups_.end()) {
      it->second->resolve_start(options);
      return it->second;
    }
  }
  MutexLock lock(groups_mutex_);
  auto it = groups_.find(name);
  if (it != groups_.end()) {
    it->second->resolve_start(options);
    return it->second;
  }
  auto group = std::make_shared<GroupState>(*this, std::string(name), &options);
  groups_.emplace(std::string(name), group);
  return group;
}

bool TopicState::has_members() const {
  SharedLock lock(groups_mutex_);
  return std::any_of(groups_.begin(), groups_.end(),
                     [](const auto& g) { return g.second->member_count() != 0; });
}

bool TopicState::has_records() const noexcept {
  return std::any_of(logs_.begin(), logs_.end(),
                     [](const auto& log) { return log->start_offset() != log->end_offset(); });
}

void TopicState::subscribe(std::shared_ptr<QueueState> queue, Headers filter) {
  auto parsed = HeaderFilter::parse(filter);
  if (!parsed) {
    throw Error(Errc::invalid_argument, "subscription of queue '" + queue->name() + "' to topic '" +
                                            name_ + "': " + parsed.message());
  }
  MutexLock lock(subscriptions_mutex_);
  auto next = std::make_shared<Subscriptions>();
  if (subscriptions_) *next = *subscriptions_;
  for (const Subscription& s : *next) {
    if (s.queue->name() != queue->name()) continue;
    if (s.queue == queue && s.arguments == filter) return;
    throw Error(Errc::option_mismatch, "queue '" + queue->name() +
                                           "' is already subscribed to topic '" + name_ +
                                           "' with another filter (unsubscribe first)");
  }
  next->push_back(Subscription{std::move(queue), std::move(filter), std::move(*parsed)});
  subscriptions_ = std::move(next);
  // Release: pairs with accept's acquire; a send that sees the flag finds the list.
  has_subscriptions_.store(true, std::memory_order_release);
}

std::vector<std::pair<std::shared_ptr<QueueState>, Headers>> TopicState::subscriptions() const {
  std::shared_ptr<const Subscriptions> now;
  {
    MutexLock lock(subscriptions_mutex_);
    now = subscriptions_;
  }
  std::vector<std::pair<std::shared_ptr<QueueState>, Headers>> out;
  if (now) {
    for (const Subscription& s : *now) out.emplace_back(s.queue, s.arguments);
  }
  return out;
}

void TopicState::unsubscribe(std::string_view queue) {
  MutexLock lock(subscriptions_mutex_);
  auto next = std::make_shared<Subscriptions>();
  bool found = false;
  if (subscriptions_) {
    for (const Subscription& s : *subscriptions_) {
      if (s.queue->name() == queue) {
        found = true;
      } else {
        next->push_back(s);
      }
    }
  }
  if (!found) {
    throw Error(Errc::unknown_destination,
                "queue '" + std::string(queue) + "' is not subscribed to topic '" + name_ + "'");
  }
  has_subscriptions_.store(!next->empty(), std::memory_order_release);
  subscriptions_ = std::move(next);
}

TopicStats TopicState::stats() const {
  TopicStats s;
  s.name = name_;
  const std::int64_t now = ns(clock_->now());
  for (const auto& log : logs_) {
    log->expire(now);
    PartitionStats p = log->stats();
    s.appended += p.appended;
    s.appended_bytes += p.appended_bytes;
    s.retained += p.end_offset - p.start_offset;
    s.bytes += p.bytes;
    s.compacted_away += p.compacted_away;
    s.partitions.push_back(p);
  }
  {
    SharedLock lock(groups_mutex_);
    for (const auto& [name, group] : groups_) {
      s.groups.push_back(group->stats());
      s.missed += s.groups.back().missed;
    }
  }
  s.compactions = compactions_.load(std::memory_order_relaxed);
  s.fanned_out = fanned_out_.load(std::memory_order_relaxed);
  s.deduplicated = deduplicated_.load(std::memory_order_relaxed);
  s.fan_out_failed = fan_out_failed_.load(std::memory_order_relaxed);
  for (const StreamRecovery& r : recovery_) {
    s.recovered += r.records;
    s.recovery_truncated_bytes += r.truncated_bytes;
    s.recovery_removed_segments += r.removed_segments;
    s.recovery_skipped_regions += r.corrupt_regions_skipped;
    s.recovery_skipped_bytes += r.corrupt_bytes_skipped;
  }
  MutexLock lock(subscriptions_mutex_);
  s.subscriptions = subscriptions_ ? subscriptions_->size() : 0;
  return s;
}

std::optional<GroupStats> TopicState::group_stats(std::string_view group) const {
  SharedLock lock(groups_mutex_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second->stats();
}

}  // namespace detail

}  // namespace switchyard
