// src/route/registry.hpp — the registry of destinations that producers, consumers and the
// Broker handle share: name → destination, its generation and closed flag, the broker's clock
// and hooks (interceptors and log: route/hooks.hpp), and the message ids producers reserve.
// (Where durable destinations keep their files is the storage context's business:
// broker/storage_context.hpp.)
//
// Threading: the registry is a map under a shared_mutex (declare/delete take it exclusively,
// look-ups shared). `generation_` rises on every delete, so a producer's cache of name →
// destination notices a deleted name without a look-up per send.
//
// Lifetime: shared by the Broker and every Producer; it holds the destinations it lists and, on
// a broker with a data directory, whatever `open_ids` was told to keep alive (the storage
// context, so that the data directory stays locked while a producer can still write ids) until
// the broker goes (`release_storage`).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "route/destination.hpp"
#include "route/hooks.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/interceptor.hpp"
#include "sync/mutex.hpp"
#include "util/string_hash.hpp"

namespace switchyard::detail {

class Registry {
 public:
  Registry(std::shared_ptr<Clock> clock, std::vector<std::shared_ptr<Interceptor>> interceptors,
           LogSink log = {})
      : clock_(std::move(clock)),
        hooks_(std::make_shared<const Hooks>(clock_, std::move(interceptors), std::move(log))) {}

  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  /// Fixed at construction; read without a lock.
  [[nodiscard]] const std::vector<std::shared_ptr<Interceptor>>& interceptors() const noexcept {
    return hooks_->interceptors();
  }
  /// The interceptors and the log, shared with every destination. Fixed at construction.
  [[nodiscard]] const std::shared_ptr<const Hooks>& hooks() const noexcept { return hooks_; }

  /// The destination called `name`, or null. @note threadsafe
  [[nodiscard]] std::shared_ptr<Destination> find(std::string_view name) const {
    SharedLock lock(mutex_);
    auto it = destinations_.find(name);
    return it == destinations_.end() ? nullptr : it->second;
  }

  /// Under the exclusive lock: returns the existing destination or stores `make()`'s.
  template <class Make>
  std::shared_ptr<Destination> find_or_insert(std::string_view name, Make&& make, bool& inserted) {
    MutexLock lock(mutex_);
    if (closed_) throw Error(Errc::closed, "broker is shut down");
    auto it = destinations_.find(name);
    if (it != destinations_.end()) {
      inserted = false;
      return it->second;
    }
    std::shared_ptr<Destination> made = make();
    destinations_.emplace(std::string(name), made);
    inserted = true;
    return made;
  }

  /// Removes `name` if `check(destination)` (run under the lock) does not throw.
  template <class Check>
  std::shared_ptr<Destination> erase(std::string_view name, Check&& check) {
    MutexLock lock(mutex_);
    auto it = destinations_.find(name);
    if (it == destinations_.end()) {
      throw Error(Errc::unknown_destination, "no destination named '" + std::string(name) + "'");
    }
    check(*it->second);
    std::shared_ptr<Destination> gone = std::move(it->second);
    destinations_.erase(it);
    generation_.fetch_add(1, std::memory_order_release);
    return gone;
  }

  /// Removes `name` if it still names `expected` (a queue deleting itself: auto-delete, expiry,
  /// its exclusive owner gone); null if it names something else or nothing, or once the
  /// registry is closed (a shutdown's consumers closing delete nothing). @note threadsafe
  std::shared_ptr<Destination> erase_if_same(std::string_view name, const Destination& expected) {
    MutexLock lock(mutex_);
    if (closed_) return nullptr;
    auto it = destinations_.find(name);
    if (it == destinations_.end() || it->second.get() != &expected) return nullptr;
    std::shared_ptr<Destination> gone = std::move(it->second);
    destinations_.erase(it);
    generation_.fetch_add(1, std::memory_order_release);
    return gone;
  }

  [[nodiscard]] std::vector<std::shared_ptr<Destination>> all() const {
    SharedLock lock(mutex_);
    std::vector<std::shared_ptr<Destination>> out;
    out.reserve(destinations_.size());
    for (const auto& [name, destination] : destinations_) out.push_back(destination);
    return out;
  }

  /// Refuses further declares. @note threadsafe
  void close() {
    MutexLock lock(mutex_);
    closed_ = true;
  }
  [[nodiscard]] bool closed() const {
    SharedLock lock(mutex_);
    return closed_;
  }

  /// Rises on every delete. Acquire pairs with erase's release. @note threadsafe
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }

  /// Makes every id handed out from now on greater than `id` (after recovery). @note threadsafe
  void ensure_ids_above(std::uint64_t id) noexcept {
    std::uint64_t next = next_id_.load(std::memory_order_relaxed);
    while (next <= id && !next_id_.compare_exchange_weak(next, id + 1, std::memory_order_relaxed)) {
    }
  }

  /// A block of `n` message ids for one producer, or 0 when a durable broker could not record a
  /// new reservation (then `id_failure()` says why; no id is ever handed out twice for a data
  /// directory). @note threadsafe
  std::uint64_t reserve_ids(std::uint64_t n) noexcept {
    const std::uint64_t first = next_id_.fetch_add(n, std::memory_order_relaxed);
    if (first + n <= id_limit_.load(std::memory_order_acquire)) return first;
    return extend_ids(first + n) ? first : 0;
  }

  /// Ids persist per data directory: `<data_dir>/ids` records a high-water mark above every id
  /// handed out (reserved kIdReservation at a time, so a send seldom writes it). Reads it and
  /// continues above it; the first send past it writes the next one. Throws `Error` on a bad file.
  /// `data_dir_owner` (what holds the directory's lock) lives as long as the registry. Called
  /// once, by the Broker's constructor, before the registry is shared.
  void open_ids(const std::filesystem::path& dir, std::shared_ptr<const void> data_dir_owner);
  /// Why the last reservation failed. @note threadsafe
  [[nodiscard]] Failure id_failure() const;
  /// The broker is gone (its destructor, after the shutdown closed every destination for
  /// good): no reservation is recorded any more — a producer that outlives its broker gets
  /// `closed` once its block is used up, and its sends are refused by the closed destinations
  /// before that — and the data directory's lock goes now, not with the last handle, so a
  /// broker reopened on the directory (`testing::DurableSandbox::restart`) can take it.
  /// @note threadsafe
  void release_storage() noexcept;

 private:
  // Set once by open_ids, dropped by release_storage (under id_mutex_); declared first so that
  // it is destroyed last, after the destinations (whose files its lock covers).
  std::shared_ptr<const void> data_dir_owner_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<const Hooks> hooks_;
  mutable SharedMutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Destination>, StringHash, std::equal_to<>>
      destinations_ GUARDED_BY(mutex_);
  bool closed_ GUARDED_BY(mutex_) = false;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> next_id_{1};

  /// Records a reservation covering ids below `needed`; false (and `id_failure_`) if it fails.
  bool extend_ids(std::uint64_t needed) noexcept;
  // Ids below id_limit_ are reserved durably (no limit for a broker without a data directory).
  std::atomic<std::uint64_t> id_limit_{UINT64_MAX};
  mutable Mutex id_mutex_;
  std::filesystem::path id_file_;  // set by open_ids, emptied by release_storage (under id_mutex_)
  Failure id_failure_ GUARDED_BY(id_mutex_);
};

}  // namespace switchyard::detail
