// src/pubsub/pubsub_hub.hpp — channels, patterns and subscriber buffers.
//
// Data structures
//   PubSubHub::snapshot_  an immutable Snapshot { channel → subscribers; pattern subscribers },
//                         replaced whole (copy-on-write) by subscribe and unsubscribe, so a
//                         publish reads it without holding any lock while it delivers.
//   SubscriptionState            a SpillRing<Message> (the library's MPMC ring, at most 4096
//                         cells, with a spill lane behind it that allocates only while the
//                         backlog is larger: many publishers, one dispatch thread) holding at
//                         most `buffer` messages, two EventCounts (ready for the dispatcher,
//                         space for blocked publishers), counters, and the dispatch thread.
//
// Threading story
//   * Any thread may publish: it copies the snapshot pointer under mutex_ (a few ns), then
//     pushes a Message copy (one reference-count increment: payloads are shared, never copied)
//     into each matching subscriber's ring.
//   * Each subscriber's dispatch thread pops and calls the handler. One handler call at a time
//     per subscription, so handlers need no locking of their own.
//   * Unsubscribe marks the subscriber closed (release), swaps in a snapshot without it, wakes
//     its dispatcher and, unless called from that dispatcher, joins it. A publish that read the
//     old snapshot may still push into the closed subscriber's ring; the dispatcher ignores it
//     and the ring frees it when the subscriber is destroyed.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "route/hooks.hpp"
#include "switchyard/pubsub.hpp"
#include "switchyard/stats.hpp"
#include "sync/event_count.hpp"
#include "sync/mutex.hpp"
#include "sync/spill_ring.hpp"
#include "util/string_hash.hpp"

namespace switchyard::detail {

class PubSubHub;

class SubscriptionState : public std::enable_shared_from_this<SubscriptionState> {
 public:
  SubscriptionState(std::uint64_t id, std::string channel, bool pattern,
                    Subscription::Handler handler, SubscriberOptions options,
                    std::shared_ptr<Clock> clock, std::shared_ptr<const Hooks> hooks = Hooks::none());
  ~SubscriptionState();

  /// Buffers `message` for the handler; false if dropped (full, or closed). @note threadsafe
  bool offer(const Message& message) noexcept;
  /// Starts the dispatch thread; `hub` is told when the subscription ends.
  void start(std::weak_ptr<PubSubHub> hub);
  void unsubscribe() noexcept;

  /// The broker-wide id, from 1 in subscribe order (`SubscriptionEntry::id`).
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] const std::string& channel() const noexcept { return channel_; }
  [[nodiscard]] bool is_pattern() const noexcept { return pattern_; }
  [[nodiscard]] bool active() const noexcept { return !closed_.load(std::memory_order_acquire); }
  [[nodiscard]] SubscriptionStats stats() const noexcept;

 private:
  void dispatch() noexcept;
  /// Logs (throttled) a handler's exception, on the dispatch thread.
  void handler_failed(std::string_view what) noexcept;
  /// Logs (throttled) a message dropped for a full buffer.
  void note_drop() noexcept;

  const std::uint64_t id_;
  const std::string channel_;
  const bool pattern_;
  const Subscription::Handler handler_;
  const SubscriberOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<const Hooks> hooks_;
  SpillRing<Message> buffer_;
  EventCount ready_;
  EventCount space_;
  std::atomic<bool> closed_{false};
  Mutex lifecycle_;  // against concurrent unsubscribes
  std::thread thread_ GUARDED_BY(lifecycle_);
  std::weak_ptr<PubSubHub> hub_ GUARDED_BY(lifecycle_);
  alignas(kCacheLine) std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> handler_errors_{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> dropped_{0};
  LogThrottle drop_log_;     // publishers' drops, aggregated for the log
  LogThrottle handler_log_;  // the handler's exceptions, aggregated for the log
};

class PubSubHub : public std::enable_shared_from_this<PubSubHub> {
 public:
  PubSubHub(std::shared_ptr<Clock> clock, std::shared_ptr<const Hooks> hooks = Hooks::none())
      : clock_(std::move(clock)), hooks_(std::move(hooks)) {}

  std::shared_ptr<SubscriptionState> subscribe(std::string_view channel, bool pattern,
                                        Subscription::Handler handler, SubscriberOptions options);
  void remove(const SubscriptionState* subscriber) noexcept;
  /// Delivers to every current subscriber of `channel` (exact and pattern). Returns how many
  /// buffered it (Redis PUBLISH's reply). @note threadsafe
  std::size_t publish(const Message& message) noexcept;
  /// Ends every subscription (broker shutdown).
  void close() noexcept;

  [[nodiscard]] std::size_t subscriptions() const;
  /// Every live subscription with its counters, by id. @note threadsafe
  [[nodiscard]] std::vector<SubscriptionEntry> stats() const;

 private:
  struct Snapshot {
    std::unordered_map<std::string, std::vector<std::shared_ptr<SubscriptionState>>, StringHash,
                       std::equal_to<>>
        channels;
    std::vector<std::shared_ptr<SubscriptionState>> patterns;
  };

  std::shared_ptr<const Snapshot> snapshot() const {
    MutexLock lock(mutex_);
    return snapshot_;
  }

  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<const Hooks> hooks_;
  mutable Mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_ GUARDED_BY(mutex_) = std::make_shared<Snapshot>();
  bool closed_ GUARDED_BY(mutex_) = false;
  std::uint64_t last_id_ GUARDED_BY(mutex_) = 0;
};

}  // namespace switchyard::detail
