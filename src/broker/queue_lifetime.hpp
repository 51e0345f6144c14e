// src/broker/queue_lifetime.hpp — the broker's side of a queue's lifetime (RabbitMQ's
// exclusive, auto-delete and x-expires queues): how a queue deletes itself, the owner token of
// an exclusive queue, and the one thread that deletes queues unused for their `expires`.
//
// Deleting: `remove_queue` is `Broker::delete_queue` without its checks — the registry entry
// (only if it still names that queue, and not once the broker is shut down), every binding and
// subscription to it, then close (its consumers are told `closed`; what it holds is discarded,
// as RabbitMQ does), and for a durable queue what `forget_stored_queue` removes on disk (the
// catalog's entry, then its directory), so that it does not come back on the next open. A
// queue reaches it through `QueueState::retire`, at most once: when its last consumer closes
// (auto_delete), when its owner token goes (exclusive, memory only), or from the expiry thread
// (expires).
//
// Durable queues keep `auto_delete` and `expires` in the catalog. Reopened, a queue is as if
// declared then (RabbitMQ recovers it the same way): an auto-delete queue has had no consumer
// yet — it is deleted when the last consumer of this run closes, and stays if none comes —
// and an expiring queue's unused time counts from the open ("the lease is renewed on
// restart"). A shutdown deletes nothing: consumers closed after it do not retire their queue.
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

#include "broker/storage_context.hpp"
#include "queue/queue_state.hpp"
#include "route/registry.hpp"
#include "switchyard/clock.hpp"
#include "sync/event_count.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

/// Removes every exchange binding and topic subscription that points at `gone`.
void unbind_everywhere(const Registry& registry, const Destination& gone);

/// After durable queue `name` left `registry`: commits the catalog without it, then removes its
/// directory. Throws `Error` when the catalog cannot be written (the directory is kept then,
/// and the queue comes back on the next open). The end of `Broker::delete_queue` too.
void forget_stored_queue(StorageContext& storage, const Registry& registry, std::string_view name);

/// Deletes `queue` as `Broker::delete_queue` would (no checks), if `registry` still lists it
/// under its name; a durable queue's files too (`storage`: its broker's, or null once that is
/// gone). A failure to write the catalog is logged. @note threadsafe
void remove_queue(Registry& registry, QueueState& queue, StorageContext* storage) noexcept;

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
/// `registry` (and a durable one's files from `storage`, required then), and with `expires`
/// `expiry` (required then) watches it. Returns the owner token of an exclusive queue — its
/// last copy going away retires the queue — or null. Held weakly: the hook does what it can
/// once the broker is gone (close the queue).
std::shared_ptr<const void> arm_lifetime(const std::shared_ptr<Registry>& registry,
                                         const std::shared_ptr<QueueState>& queue,
                                         const std::shared_ptr<QueueExpiry>& expiry,
                                         const std::shared_ptr<StorageContext>& storage);

}  // namespace switchyard::detail
