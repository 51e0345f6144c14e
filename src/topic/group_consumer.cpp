// A consumer group member: assignment sync, polling, commits. Design:
// src/topic/topic_state.hpp.
#include "switchyard/group_consumer.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "switchyard/detail/deadline.hpp"
#include "sync/idle_wait.hpp"
#include "topic/topic_state.hpp"
#include "util/access.hpp"
#include "util/time.hpp"

namespace switchyard {

namespace detail {

namespace {
// The spare record storage of this thread (see PollBatch): a destroyed batch leaves its
// vector here, the next poll on the thread starts from it.
constexpr std::size_t kSpareRecords = 4096;
// `spare_gone` (trivially destructible, so valid for the whole thread) turns true when the
// spare is destroyed at thread exit: a batch destroyed after that (a static one, in the main
// thread's static destruction) simply frees its storage.
thread_local bool spare_gone = false;
struct SpareRecords {
  std::vector<Record> records;
  SpareRecords() = default;
  SpareRecords(const SpareRecords&) = delete;
  SpareRecords& operator=(const SpareRecords&) = delete;
  ~SpareRecords() { spare_gone = true; }
};
thread_local SpareRecords spare;
}  // namespace

GroupConsumerState::GroupConsumerState(std::shared_ptr<TopicState> topic, std::shared_ptr<GroupState> group,
                         GroupConsumerOptions options)
    : topic_(std::move(topic)),
      group_(std::move(group)),
      options_(std::move(options)),
      partitions_(topic_->partitions()),
      owned_(partitions_, 0),
      position_(partitions_, 0),
      paused_(partitions_, false) {
  group_->join(this);
  joined_ = true;
}

GroupConsumerState::~GroupConsumerState() {
  close();
}

void GroupConsumerState::close() noexcept {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (options_.auto_commit && dirty_) auto_commit();
  if (joined_) group_->leave(this);
  joined_ = false;
  MutexLock lock(ready_fd_mutex_);
  // Readable for good from here: every later poll reports `closed`.
  if (ready_fd_owner_) {
    ReadyFdArm<CoalescingEventCount>::detach(topic_->appended_event(), *ready_fd_owner_);
  }
}

Result<int> GroupConsumerState::ready_fd() noexcept {
  // Acquire: pairs with the release below.
  if (ReadyFd* fd = ready_fd_.load(std::memory_order_acquire)) return fd->fd();
  MutexLock lock(ready_fd_mutex_);
  if (ready_fd_owner_) return ready_fd_owner_->fd();
  auto made = ReadyFd::create();  // readable: a first poll finds what is there
  if (!made) return Result<int>(made.failure());
  try {
    topic_->appended_event().ready_fds().attach(**made);
  } catch (...) {
    return Result<int>(Errc::out_of_memory);
  }
  ready_fd_owner_ = std::move(*made);
  // A close that ran before the attach found no fd to detach: detach it here.
  if (closed_.load(std::memory_order_acquire)) {
    ReadyFdArm<CoalescingEventCount>::detach(topic_->appended_event(), *ready_fd_owner_);
  }
  // Release: pairs with poll's acquire load (the attach above is complete).
  ready_fd_.store(ready_fd_owner_.get(), std::memory_order_release);
  return ready_fd_owner_->fd();
}

const std::string& GroupConsumerState::group_name() const noexcept {
  return group_->name();
}

void GroupConsumerState::wakeup() noexcept {
  // Release: pairs with the poll's acquire exchange.
  wakeup_.store(true, std::memory_order_release);
  topic_->appended_event().notify_all();
}

Status GroupConsumerState::check_partition(std::uint32_t partition) const {
  if (partition >= partitions_)
    return Status(Errc::out_of_range, topic_->partition_error(partition));
  return {};
}

Status GroupConsumerState::check_owned(std::uint32_t partition) const {
  if (auto s = check_partition(partition); !s) return s;
  if (owned_[partition] == 0) {
    return Status(Errc::not_owner,
                  "partition " + std::to_string(partition) + " of topic '" + topic_->name() +
                      "' is not assigned to this member of group '" + group_->name() + "'");
  }
  return {};
}

void GroupConsumerState::sync() noexcept {
  if (group_->generation() == seen_generation_) return;
  std::vector<GroupState::Owned> now_owned;
  std::vector<std::uint32_t> revoked, assigned;
  try {
    seen_generation_ = group_->assignment_of(this, now_owned);
    std::vector<std::uint64_t> next(partitions_, 0);
    for (const auto& o : now_owned) next[o.partition] = o.epoch;
    for (std::uint32_t p = 0; p < partitions_; ++p) {
      if (owned_[p] != 0 && owned_[p] != next[p]) revoked.push_back(p);
    }
    for (const auto& o : now_owned) {
      if (owned_[o.partition] != o.epoch) {
        assigned.push_back(o.partition);
        position_[o.partition] = o.committed;
      }
    }
    for (std::uint32_t p : revoked) paused_[p] = false;
    owned_ = std::move(next);
    assignment_.clear();
    for (const auto& o : now_owned) assignment_.push_back(o.partition);
  } catch (...) {
    return;  // out of memory: keep the old view, try again at the next poll
  }
  try {
    if (!revoked.empty() && options_.on_revoked) options_.on_revoked(revoked);
    if (!assigned.empty() && options_.on_assigned) options_.on_assigned(assigned);
  } catch (...) {
    // A callback must not throw; a throwing one does not break the member.
  }
}

bool GroupConsumerState::ready() const noexcept {
  for (std::uint32_t p : assignment_) {
    if (paused_[p]) continue;
    const PartitionLog& log = topic_->log(p);
    if (log.end_offset() > position_[p] || log.start_offset() > position_[p]) return true;
  }
  return false;
}

bool GroupConsumerState::read_once(std::size_t max, TimePoint now, PollBatch& batch) {
  const std::size_t n = assignment_.size();
  if (n == 0) return false;
  auto& records = Access::records(batch);
  const std::size_t first = next_first_ % n;
  for (std::size_t i = 0; i < n && records.size() < max; ++i) {
    const std::uint32_t p = assignment_[(first + i) % n];
    if (paused_[p]) continue;
    PartitionLog& log = topic_->log(p);
    log.expire(ns(now));
    const std::uint64_t from = position_[p];
    auto read = log.read(from, max - records.size(), records);
    if (read.missed != 0) {
      Missed m{p, from, read.missed};
      group_->count_missed(p, read.missed);
      Access::missed(batch).push_back(m);
      if (options_.on_missed) {
        try {
          options_.on_missed(m);
        } catch (...) {
        }
      }
    }
    if (read.next != from) dirty_ = true;
    position_[p] = read.next;
    if (!read.status && !read_error_) read_error_ = read.status;
  }
  next_first_ = first + 1;
  return !records.empty() || !batch.missed().empty();
}

bool GroupConsumerState::closed() const noexcept {
  return closed_.load(std::memory_order_acquire) || topic_->closed_for_receive();
}

void GroupConsumerState::reserve_records(PollBatch& batch, std::size_t max) {
  auto& records = Access::records(batch);
  if (records.capacity() >= max) return;
  if (!spare_gone && records.capacity() < spare.records.capacity()) records.swap(spare.records);
  records.reserve(std::min<std::size_t>(max, kSpareRecords));
}

std::optional<Status> GroupConsumerState::poll_once(std::size_t max, TimePoint now,
                                                    PollBatch& batch) {
  sync();
  const bool got = read_once(max, now, batch);
  if (read_error_) {
    // A damaged record (durable topics): report it when there is nothing else to return;
    // the member stays before it (seek past it to skip).
    Status error = std::exchange(read_error_, std::nullopt).value();
    if (!got) return error;
  }
  if (!got) return std::nullopt;
  const Hooks& hooks = topic_->hooks();
  if (hooks.intercepting()) [[unlikely]] {
    for (const Record& record : batch) {
      hooks.each("on_poll",
                 [&](Interceptor& i) { i.on_poll(topic_->name(), group_->name(), record); });
    }
  }
  return Status{};
}

void GroupConsumerState::auto_commit() noexcept {
  const Status committed = commit();
  if (committed) return;
  // Losing partitions to a rebalance is expected (Kafka warns too); anything else is an error.
  const LogLevel level = committed.code() == Errc::not_owner ? LogLevel::warning : LogLevel::error;
  topic_->hooks().log().log(level, "topic", "topic '{}', group '{}': auto-commit failed: {}: {}",
                            topic_->name(), group_->name(), to_string(committed.code()),
                            committed.message());
}

void GroupConsumerState::wait_for_records(TimePoint now, TimePoint deadline,
                                          IdleWait& idle) noexcept {
  // Spin on the log ends, not on the clock (a clock read costs more than many loads). A
  // parked member costs the next appender one futex wake for all parked members
  // (CoalescingEventCount).
  if (idle.pause([this]() noexcept { return ready(); })) return;
  IdleWait::park(
      topic_->appended_event(),
      [&]() noexcept {
        return ready() || group_->generation() != seen_generation_ || closed() ||
               wakeup_.load(std::memory_order_acquire);
      },
      now, deadline, *topic_->clock());
}

Status GroupConsumerState::poll(PollBatch& batch, std::size_t max, Duration timeout) noexcept {
  batch.clear();
  if (closed()) {
    return Status(Errc::closed, "group member of topic '" + topic_->name() +
                                    "' is closed (member closed, topic deleted, or broker "
                                    "stopped)");
  }
  if (options_.auto_commit && dirty_) auto_commit();
  const Clock& clock = *topic_->clock();
  TimePoint now = clock.now();
  const TimePoint deadline = detail::deadline_after(now, timeout);
  // A wakeup that came before this poll is not forgotten: it ends this poll (Kafka's
  // KafkaConsumer.wakeup), or a stop request racing the poll's start would be lost.
  if (max == 0) {
    sync();  // a zero-record poll still takes part in the group (learns its assignment)
    return {};
  }
  try {
    reserve_records(batch, max);
    IdleWait idle(options_.wait);
    bool armed = false;
    for (;;) {
      if (auto done = poll_once(max, now, batch)) return *done;
      if (now >= deadline || wakeup_.exchange(false, std::memory_order_acquire)) {
        // Acquire: pairs with ready_fd()'s release (the fd is attached).
        ReadyFd* fd = ready_fd_.load(std::memory_order_acquire);
        if (fd == nullptr || armed) return {};
        // Found nothing: clear the readiness fd and arm it, then look once more (ready_fd.hpp).
        ReadyFdArm<CoalescingEventCount>::arm(topic_->appended_event(), *fd);
        armed = true;
        if (closed()) {
          fd->signal();  // the close's notify may have come before the registration
          return Status(Errc::closed, "topic '" + topic_->name() + "' closed");
        }
        continue;
      }
      wait_for_records(now, deadline, idle);
      if (closed()) return Status(Errc::closed, "topic '" + topic_->name() + "' closed");
      now = clock.now();
    }
  } catch (const std::bad_alloc&) {
    if (!batch.empty() || !batch.missed().empty()) return {};
    return Status(Errc::out_of_memory);
  }
}

Result<PollBatch> GroupConsumerState::poll(std::size_t max, Duration timeout) noexcept {
  PollBatch batch;
  if (auto s = poll(batch, max, timeout); !s) return Result<PollBatch>(s.failure());
  return batch;
}

Status GroupConsumerState::commit() noexcept {
  if (closed_.load(std::memory_order_acquire) && joined_ == false) {
    return Status(Errc::closed, "group member is closed");
  }
  std::vector<GroupState::CommitEntry> entries;
  std::vector<std::uint32_t> lost;
  try {
    entries.reserve(assignment_.size());
    for (std::uint32_t p : assignment_) entries.push_back({p, owned_[p], position_[p]});
  } catch (const std::bad_alloc&) {
    return Status(Errc::out_of_memory);
  }
  if (auto s = group_->commit(this, entries, lost); !s) return s;
  if (!lost.empty()) {
    std::string names;
    for (std::uint32_t p : lost) names += (names.empty() ? "" : ", ") + std::to_string(p);
    return Status(Errc::not_owner, "partitions " + names + " of topic '" + topic_->name() +
                                       "' were reassigned within group '" + group_->name() +
                                       "' before the commit");
  }
  dirty_ = false;
  return {};
}

Status GroupConsumerState::commit(std::uint32_t partition, std::uint64_t offset) noexcept {
  if (auto s = check_owned(partition); !s) return s;
  const std::uint64_t end = topic_->log(partition).end_offset();
  if (offset > end) {
    return Status(Errc::out_of_range, "offset " + std::to_string(offset) + " is past the end (" +
                                          std::to_string(end) + ") of partition " +
                                          std::to_string(partition) + " of topic '" +
                                          topic_->name() + "'");
  }
  const GroupState::CommitEntry entry{partition, owned_[partition], offset};
  std::vector<std::uint32_t> lost;
  if (auto s = group_->commit(this, std::span(&entry, 1), lost); !s) return s;
  if (!lost.empty()) {
    return Status(Errc::not_owner, "partition " + std::to_string(partition) + " of topic '" +
                                       topic_->name() + "' was reassigned within group '" +
                                       group_->name() + "'");
  }
  return {};
}

Status GroupConsumerState::seek(std::uint32_t partition, std::uint64_t offset) noexcept {
  if (auto s = check_owned(partition); !s) return s;
  const std::uint64_t end = topic_->log(partition).end_offset();
  if (offset > end) {
    return Status(Errc::out_of_range, "cannot seek to offset " + std::to_string(offset) +
                                          ": past the end (" + std::to_string(end) +
                                          ") of partition " + std::to_string(partition) +
                                          " of topic '" + topic_->name() + "'");
  }
  position_[partition] = offset;
  dirty_ = true;
  return {};
}

Status GroupConsumerState::set_paused(std::uint32_t partition, bool paused) noexcept {
  if (auto s = check_owned(partition); !s) return s;
  paused_[partition] = paused;
  return {};
}

std::vector<std::uint32_t> GroupConsumerState::assignment() const {
  return assignment_;
}

Result<std::uint64_t> GroupConsumerState::position(std::uint32_t partition) const noexcept {
  if (auto s = check_owned(partition); !s) return Result<std::uint64_t>(s.failure());
  return position_[partition];
}

Result<std::uint64_t> GroupConsumerState::lag(std::uint32_t partition) const noexcept {
  if (auto s = check_partition(partition); !s) return Result<std::uint64_t>(s.failure());
  const std::uint64_t end = topic_->log(partition).end_offset();
  const std::uint64_t committed = group_->committed(partition);
  return end > committed ? end - committed : 0;
}

Result<std::uint64_t> GroupConsumerState::committed(std::uint32_t partition) const noexcept {
  if (auto s = check_partition(partition); !s) return Result<std::uint64_t>(s.failure());
  return group_->committed(partition);
}

}  // namespace detail

// --- PollBatch ------------------------------------------------------------------------

PollBatch::~PollBatch() {
  records_.clear();  // releases the messages now, whatever happens to the storage
  if (!detail::spare_gone && records_.capacity() > detail::spare.records.capacity() &&
      records_.capacity() <= detail::kSpareRecords) {
    records_.swap(detail::spare.records);
  }
}

// --- GroupConsumer handle --------------------------------------------------------------

namespace {
Failure empty_member() {
  return Failure{Errc::closed, "group consumer is empty (moved from)"};
}
}  // namespace

GroupConsumer::GroupConsumer(std::shared_ptr<detail::GroupMember> member) noexcept
    : member_(std::move(member)) {}
GroupConsumer::GroupConsumer(GroupConsumer&&) noexcept = default;
GroupConsumer& GroupConsumer::operator=(GroupConsumer&& other) noexcept {
  if (this != &other) {
    close();
    member_ = std::move(other.member_);
  }
  return *this;
}
GroupConsumer::~GroupConsumer() {
  close();
}

Result<PollBatch> GroupConsumer::poll(std::size_t max, Duration timeout) & noexcept {
  if (!member_) return Result<PollBatch>(empty_member());
  return member_->poll(max, timeout);
}
Status GroupConsumer::poll(PollBatch& batch, std::size_t max, Duration timeout) & noexcept {
  if (!member_) {
    batch.clear();
    return Status(empty_member());
  }
  return member_->poll(batch, max, timeout);
}
Status GroupConsumer::commit() noexcept {
  return member_ ? member_->commit() : Status(empty_member());
}
Status GroupConsumer::commit(std::uint32_t partition, std::uint64_t offset) noexcept {
  return member_ ? member_->commit(partition, offset) : Status(empty_member());
}
Status GroupConsumer::seek(std::uint32_t partition, std::uint64_t offset) noexcept {
  return member_ ? member_->seek(partition, offset) : Status(empty_member());
}
Status GroupConsumer::pause(std::uint32_t partition) noexcept {
  return member_ ? member_->set_paused(partition, true) : Status(empty_member());
}
Status GroupConsumer::resume(std::uint32_t partition) noexcept {
  return member_ ? member_->set_paused(partition, false) : Status(empty_member());
}
std::vector<std::uint32_t> GroupConsumer::assignment() const {
  return member_ ? member_->assignment() : std::vector<std::uint32_t>{};
}
Result<std::uint64_t> GroupConsumer::position(std::uint32_t partition) const noexcept {
  return member_ ? member_->position(partition) : Result<std::uint64_t>(empty_member());
}
Result<std::uint64_t> GroupConsumer::lag(std::uint32_t partition) const noexcept {
  return member_ ? member_->lag(partition) : Result<std::uint64_t>(empty_member());
}
Result<std::uint64_t> GroupConsumer::committed(std::uint32_t partition) const noexcept {
  return member_ ? member_->committed(partition) : Result<std::uint64_t>(empty_member());
}
void GroupConsumer::wakeup() noexcept {
  if (member_) member_->wakeup();
}
void GroupConsumer::close() noexcept {
  if (member_) member_->close();
}
Result<int> GroupConsumer::ready_fd() noexcept {
  return member_ ? member_->ready_fd() : Result<int>(empty_member());
}
Duration GroupConsumer::ready_timeout() const noexcept {
  return member_ ? member_->clock().max_real_sleep() : Duration::max();
}
const Clock& GroupConsumer::clock() const noexcept {
  return member_ ? member_->clock() : *SystemClock::instance();
}
const std::string& GroupConsumer::topic_name() const noexcept {
  return member_->topic_name();
}
const std::string& GroupConsumer::group_name() const noexcept {
  return member_->group_name();
}

}  // namespace switchyard
