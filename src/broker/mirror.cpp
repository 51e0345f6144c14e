// Mirror: the contract and the threading story are in include/switchyard/mirror.hpp.
#include "switchyard/mirror.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <utility>

#include "switchyard/producer.hpp"
#include "sync/broker_thread.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"
#include "sync/mutex.hpp"

namespace switchyard {

using detail::CondVar;
using detail::EventCount;
using detail::IdleWait;
using detail::Mutex;
using detail::MutexLock;

struct Mirror::State {
  State(Broker& broker, std::string from_, std::string to_, MirrorOptions options_)
      : from(std::move(from_)),
        to(std::move(to_)),
        options(std::move(options_)),
        clock(broker.clock()),
        member(broker.group_consumer(from, options.group, {.start = options.start})),
        producer(broker.producer()) {}

  const std::string from;
  const std::string to;
  const MirrorOptions options;
  const std::shared_ptr<Clock> clock;
  GroupConsumer member;  // the mirror's thread only (and `wakeup` from any thread)
  Producer producer;     // the mirror's thread only
  std::atomic<bool> stopping{false};
  EventCount wake;  // a retry's wait ends early on stop
  std::thread thread;

  // The batch in flight: sends not yet completed, and per partition the first offset whose send
  // failed (absent: none).
  mutable Mutex mutex;
  CondVar completed;
  std::size_t outstanding GUARDED_BY(mutex) = 0;
  std::map<std::uint32_t, std::uint64_t> failed_at GUARDED_BY(mutex);
  MirrorStats stats GUARDED_BY(mutex);

  /// Counts a failure and keeps its message. REQUIRES(mutex)
  void note_locked(const Failure& why) REQUIRES(mutex) {
    ++stats.failed;
    stats.last_error = why.message.empty() ? std::string(to_string(why.code)) : why.message;
  }
  /// The send of `offset` of `partition` failed: that partition resumes there.
  void failed(std::uint32_t partition, std::uint64_t offset, const Failure& why) {
    MutexLock lock(mutex);
    auto [it, inserted] = failed_at.emplace(partition, offset);
    if (!inserted) it->second = std::min(it->second, offset);
    note_locked(why);
  }

  void run() noexcept;
  /// Sends one batch and waits for its completions; false if a send failed.
  bool mirror(const PollBatch& batch) noexcept;
};

namespace {
std::string default_group(const std::string& from, const std::string& to) {
  return "mirror:" + from + "->" + to;
}
}  // namespace

Mirror::Mirror(Broker& broker, std::string from, std::string to, MirrorOptions options) {
  if (options.batch == 0) throw Error(Errc::invalid_argument, "MirrorOptions::batch: 0");
  if (options.retry_delay.count() < 0) {
    throw Error(Errc::invalid_argument, "MirrorOptions::retry_delay: negative");
  }
  const auto listed = broker.destinations();
  if (std::none_of(listed.begin(), listed.end(),
                   [&](const DestinationInfo& d) { return d.name == to; })) {
    throw Error(Errc::unknown_destination,
                "mirror of '" + from + "': no destination named '" + to + "'");
  }
  if (options.group.empty()) options.group = default_group(from, to);
  state_ = std::make_shared<State>(broker, std::move(from), std::move(to), std::move(options));
  state_->thread = detail::start_thread(state_->clock, [state = state_] { state->run(); });
}

Mirror::~Mirror() {
  stop();
}

void Mirror::stop() noexcept {
  if (!state_) return;
  // Seq_cst store, then notify: pairs with the check inside the retry's park.
  state_->stopping.store(true, std::memory_order_seq_cst);
  state_->wake.notify_all();
  state_->member.wakeup();  // a poll in progress returns; one about to start returns at once
  if (state_->thread.joinable()) state_->thread.join();  // (also when it ended by itself)
}

MirrorStats Mirror::stats() const {
  MutexLock lock(state_->mutex);
  return state_->stats;
}

void Mirror::State::run() noexcept {
  PollBatch batch;
  auto stop_requested = [this]() noexcept { return stopping.load(std::memory_order_seq_cst); };
  while (!stop_requested()) {
    if (auto polled = member.poll(batch, options.batch, Duration::max()); !polled) {
      if (polled.code() == Errc::closed) return;  // the topic or its broker went
      MutexLock lock(mutex);
      note_locked(polled.failure());
    } else if (batch.empty() || mirror(batch)) {
      continue;
    }
    // A failure: wait before trying again (the member was sought back to the failed records).
    const TimePoint now = clock->now();
    const TimePoint until = now + options.retry_delay;
    for (TimePoint t = now; t < until && !stop_requested(); t = clock->now()) {
      IdleWait::park(wake, stop_requested, t, until, *clock);
    }
  }
}

bool Mirror::State::mirror(const PollBatch& batch) noexcept {
  std::map<std::uint32_t, std::uint64_t> next;  // per partition: one past its last record here
  {
    MutexLock lock(mutex);
    failed_at.clear();
  }
  for (const Record& r : batch) {
    {
      MutexLock lock(mutex);
      // After a partition's first failure, the rest of it waits for the retry (its order).
      if (failed_at.contains(r.partition)) continue;
      ++outstanding;
    }
    next[r.partition] = r.offset + 1;
    const std::uint32_t partition = r.partition;
    const std::uint64_t offset = r.offset;
    SendOptions options;
    options.on_complete = [this, partition, offset](const Result<SendReceipt>& done) {
      if (!done) failed(partition, offset, done.failure());
      MutexLock lock(mutex);
      if (done) ++stats.mirrored;
      if (--outstanding == 0) completed.notify_all();
    };
    if (auto sent = producer.forward(to, r.message, options); !sent) {
      failed(partition, offset, sent.failure());  // refused at once: no completion comes
      MutexLock lock(mutex);
      if (--outstanding == 0) completed.notify_all();
    }
  }
  std::map<std::uint32_t, std::uint64_t> failures;
  {
    MutexLock lock(mutex);
    while (outstanding != 0) completed.wait(mutex);
    failures = failed_at;
  }
  // Commit past what was mirrored; a partition with a failure resumes at it.
  bool clean = failures.empty();
  for (const auto& [partition, end] : next) {
    auto failure = failures.find(partition);
    const std::uint64_t resume = failure == failures.end() ? end : failure->second;
    const Status committed = member.commit(partition, resume);
    Status sought;
    if (failure != failures.end()) sought = member.seek(partition, resume);
    MutexLock lock(mutex);
    if (committed) ++stats.commits;
    // Not committed: the records are sent again by the group's next member (at-least-once).
    if (!committed) note_locked(committed.failure());
    if (!sought) {
      // This member would read past the failed records and commit past them later: it stops
      // (the assignment cannot have moved: rebalances happen inside poll). The next mirror of
      // the group resumes at the committed offset.
      note_locked(sought.failure());
      stopping.store(true, std::memory_order_seq_cst);
      clean = false;
    }
  }
  return clean;
}

}  // namespace switchyard
