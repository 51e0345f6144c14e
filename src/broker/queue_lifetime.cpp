// How a queue with a lifetime (exclusive, auto_delete, expires) is deleted, and the expiry
// thread. Design notes: queue_lifetime.hpp.
#include "broker/queue_lifetime.hpp"

#include <algorithm>

#include "broker/broker_catalog.hpp"
#include "route/exchange_state.hpp"
#include "sync/broker_thread.hpp"
#include "sync/idle_wait.hpp"
#include "topic/topic_state.hpp"

namespace switchyard::detail {

void unbind_everywhere(const Registry& registry, const Destination& gone) {
  for (const auto& d : registry.all()) {
    if (d->kind() == DestinationKind::exchange) {
      static_cast<ExchangeState&>(*d).unbind_all(gone);
    } else if (d->kind() == DestinationKind::topic && gone.kind() == DestinationKind::queue) {
      try {
        static_cast<TopicState&>(*d).unsubscribe(gone.name());
      } catch (const Error&) {
        // Not subscribed to this topic.
      }
    }
  }
}

void forget_stored_queue(StorageContext& storage, const Registry& registry,
                         std::string_view name) {
  // The catalog first: a crash between the two leaves a directory no entry names (re-used by
  // the next declare of the name), never an entry whose directory is gone.
  commit_catalog(storage, registry);
  storage.remove(DestinationKind::queue, name);
}

void remove_queue(Registry& registry, QueueState& queue, StorageContext* storage) noexcept {
  std::shared_ptr<Destination> gone;  // the registry's reference, dropped after the close
  try {
    // Null once the broker is shut down: its close is not a deletion (a durable queue stays
    // on disk, as RabbitMQ keeps a durable auto-delete queue over a restart).
    gone = registry.erase_if_same(queue.name(), queue);
    if (gone) unbind_everywhere(registry, *gone);
  } catch (...) {
    // Out of memory while unbinding: the queue is closed below, and a binding left to it
    // routes into a closed queue (counted by its exchange) — nothing is lost that was kept.
  }
  queue.close(false);
  if (!gone || !queue.durable() || storage == nullptr) return;
  try {
    forget_stored_queue(*storage, registry, queue.name());
  } catch (const std::exception& e) {
    // Nobody to throw to (a consumer's close, the expiry thread): the queue is gone from this
    // run, and comes back on the next open with what it held — nothing kept is lost.
    registry.hooks()->log().log(LogLevel::error, "queue",
                                "queue '{}' deleted itself, but its catalog entry stays: {}",
                                queue.name(), e.what());
  }
}

void QueueExpiry::watch(const std::shared_ptr<QueueState>& queue) {
  MutexLock lock(mutex_);
  if (stopped_) return;  // shut down: nothing expires any more
  watched_.push_back(queue);
  if (!thread_.joinable()) thread_ = start_thread(clock_, [this] { run(); });
  changed();
}

void QueueExpiry::stop() noexcept {
  std::thread thread;
  {
    MutexLock lock(mutex_);
    stopped_ = true;
    thread = std::move(thread_);
  }
  stop_.store(true, std::memory_order_seq_cst);
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

void QueueExpiry::run() noexcept {
  std::vector<std::shared_ptr<QueueState>> due;
  while (!stop_.load(std::memory_order_acquire)) {
    // Cleared before the scan: a change during it is either seen by the scan or leaves the
    // flag set, so the park below returns at once.
    changed_.store(false, std::memory_order_seq_cst);
    const TimePoint now = clock_->now();
    std::int64_t next_ns = INT64_MAX;
    {
      MutexLock lock(mutex_);
      std::erase_if(watched_, [&](const std::weak_ptr<QueueState>& weak) {
        auto queue = weak.lock();
        if (!queue || queue->retiring()) return true;
        if (queue->expired(now)) {
          due.push_back(std::move(queue));
          return true;
        }
        const std::int64_t since = queue->unused_since_ns();
        if (since != INT64_MAX) {
          next_ns = std::min(next_ns, saturating_add(since, queue->options().expires.count()));
        }
        return false;
      });
    }
    for (auto& queue : due) queue->retire();  // RabbitMQ: deleted once unused for x-expires
    due.clear();
    IdleWait::park(
        wake_,
        [this]() noexcept {
          return stop_.load(std::memory_order_seq_cst) || changed_.load(std::memory_order_seq_cst);
        },
        now, TimePoint(Duration(next_ns)), *clock_);
  }
}

std::shared_ptr<const void> arm_lifetime(const std::shared_ptr<Registry>& registry,
                                         const std::shared_ptr<QueueState>& queue,
                                         const std::shared_ptr<QueueExpiry>& expiry,
                                         const std::shared_ptr<StorageContext>& storage) {
  const QueueOptions& options = queue->options();
  if (!options.exclusive && !options.auto_delete && options.expires.count() == 0) return nullptr;
  std::shared_ptr<const void> owner;
  if (options.exclusive) {
    // The token's last copy going away retires the queue (RabbitMQ: the owning connection
    // closed). It holds the queue weakly: a queue deleted meanwhile is not kept alive by it.
    owner = std::shared_ptr<const int>(new int(0),
                                       [weak = std::weak_ptr<QueueState>(queue)](const int* token) {
                                         delete token;
                                         if (auto q = weak.lock()) q->retire();
                                       });
  }
  QueueLifecycle lifecycle;
  std::weak_ptr<StorageContext> weak_storage;
  if (queue->durable()) weak_storage = storage;
  lifecycle.retire = [weak = std::weak_ptr<Registry>(registry),
                      weak_storage = std::move(weak_storage)](QueueState& q) {
    if (auto r = weak.lock()) {
      const auto s = weak_storage.lock();
      remove_queue(*r, q, s.get());
    } else {
      q.close(false);
    }
  };
  if (options.expires.count() > 0) {
    lifecycle.unused = [weak = std::weak_ptr<QueueExpiry>(expiry)](QueueState&) {
      if (auto e = weak.lock()) e->changed();
    };
  }
  queue->set_lifecycle(std::move(lifecycle), owner.get());
  if (options.expires.count() > 0) expiry->watch(queue);
  return owner;
}

}  // namespace switchyard::detail
