// src/broker/queue_lifetime.hpp — the broker's side of a queue's lifetime (RabbitMQ's
// exclusive, auto-delete and x-expires queues): how a queue deletes itself, the owner token of
// an exclusive queue, and the one thread that deletes queues unused for their `expires`.
//
// Deleting: `remove_queue` is `Broker::delete_queue` without its checks — the registry entry
// (only if it still names that queue), every binding and subscription to it, then close (its
// consumers are told `closed`; what it holds is discarded, as RabbitMQ does). A queue reaches it
// through `QueueState::retire`, at most once: when its last consumer closes (auto_delete), when
// its owner token goes (exclusive), or from the expiry thread (expires).
//
// Threading: `arm` runs inside the registry's exclusive lock (a declare's make step) and takes
// only `QueueExpiry::mutex_`; `remove_queue` takes the registry's lock, then the exchanges' and
// topics' — it is never called with a queue's lock held. The expiry thread holds mutex_ only to
// read its list, never while it retires a queue. Lock order: registry before mutex_.
//
// Lifetime: QueueExpiry belongs to the Broker, which stops (joins) it at shutdown; the thread
// starts with the first queue declared with `expires`. Queues hold only a weak reference to it
// and to the registry, so a queue that outlives the broker retires into nothing.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "queue/queue_state.hpp"
#include "route/registry.hpp"
#include "switchyard/clock.hpp"
#include "sync/event_count.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

/// Removes every exchange binding and topic subscription that points at `gone`.
void unbind_everywhere(const Registry& registry, const Destination& gone);

/// Deletes `queue` as `Broker::delete_queue` would (no checks), if `registry` still lists it
/// under its name. @note threadsafe
void remove_queue(Registry& registry, QueueState& queue) noexcept;

/// The thread that deletes queues unused for their `expires`. @note threadsafe
class QueueExpiry {
 public:
  explicit QueueExpiry(std::shared_ptr<Clock> clock) : clock_(std::move(clock)) {}
  ~QueueExpiry() { stop(); }
  QueueExpiry(const QueueExpiry&) = delete;
  QueueExpiry& operator=(const QueueExpiry&) = delete;

  /// Watches `queue` (declared with `expires` > 0) from now on; starts the thread if needed.
  /// Throws std::bad_alloc or std::system_error (no thread).
  void watch(const std::shared_ptr<QueueState>& queue);
  /// A watched queue's expiry may now come sooner (it lost its last consumer).
  void changed() noexcept {
    // Seq_cst store, then notify: pairs with the thread's check inside park (event_count.hpp).
    changed_.store(true, std::memory_order_seq_cst);
    wake_.notify_all();
  }
  /// Stops and joins the thread (Broker::shutdown). Idempotent; not from the thread itself.
  void stop() noexcept;

 private:
  void run() noexcept;

  const std::shared_ptr<Clock> clock_;
  Mutex mutex_;
  std::vector<std::weak_ptr<QueueState>> watched_ GUARDED_BY(mutex_);
  std::thread thread_ GUARDED_BY(mutex_);
  bool stopped_ GUARDED_BY(mutex_) = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> changed_{false};
  EventCount wake_;
};

/// Sets `queue`'s lifecycle as its options say, before it is shared: `retire` removes it from
/// `registry`, and with `expires` `expiry` (required then) watches it. Returns the owner token
/// of an exclusive queue — its last copy going away retires the queue — or null.
std::shared_ptr<const void> arm_lifetime(const std::shared_ptr<Registry>& registry,
                                         const std::shared_ptr<QueueState>& queue,
                                         const std::shared_ptr<QueueExpiry>& expiry);

}  // namespace switchyard::detail
