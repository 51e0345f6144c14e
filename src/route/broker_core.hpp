// src/route/broker_core.hpp — the registry of destinations that producers, consumers
// and the Broker handle share.
//
// Threading: the registry is a map under a shared_mutex (declare/delete take it exclusively,
// look-ups shared). `generation_` rises on every delete, so a producer's cache of name →
// destination notices a deleted name without a look-up per send.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "route/destination.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/interceptor.hpp"
#include "sync/mutex.hpp"
#include "util/crc32c.hpp"
#include "util/murmur2.hpp"

namespace switchyard::detail {

class PubSubHub;
class CheckpointFile;

/// The Error a declare (or a consumer's creation) throws when an allocation fails: always
/// Errc::out_of_memory, naming `what` and `name` when there is memory left to say so.
Error out_of_memory_error(std::string_view what, std::string_view name) noexcept;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

class BrokerCore {
 public:
  BrokerCore(std::shared_ptr<Clock> clock, std::vector<std::shared_ptr<Interceptor>> interceptors)
      : clock_(std::move(clock)), interceptors_(std::move(interceptors)) {}

  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  /// Fixed at construction; read without a lock.
  [[nodiscard]] const std::vector<std::shared_ptr<Interceptor>>& interceptors() const noexcept {
    return interceptors_;
  }

  /// The destination called `name`, or null. @note threadsafe
  [[nodiscard]] std::shared_ptr<Destination> find(std::string_view name) const {
    SharedLock lock(mutex_);
    auto it = registry_.find(name);
    return it == registry_.end() ? nullptr : it->second;
  }

  /// Under the exclusive lock: returns the existing destination or stores `make()`'s.
  template <class Make>
  std::shared_ptr<Destination> find_or_insert(std::string_view name, Make&& make, bool& inserted) {
    MutexLock lock(mutex_);
    if (closed_) throw Error(Errc::closed, "broker is shut down");
    auto it = registry_.find(name);
    if (it != registry_.end()) {
      inserted = false;
      return it->second;
    }
    std::shared_ptr<Destination> made = make();
    registry_.emplace(std::string(name), made);
    inserted = true;
    return made;
  }

  /// Removes `name` if `check(destination)` (run under the lock) does not throw.
  template <class Check>
  std::shared_ptr<Destination> erase(std::string_view name, Check&& check) {
    MutexLock lock(mutex_);
    auto it = registry_.find(name);
    if (it == registry_.end()) {
      throw Error(Errc::unknown_destination, "no destination named '" + std::string(name) + "'");
    }
    check(*it->second);
    std::shared_ptr<Destination> gone = std::move(it->second);
    registry_.erase(it);
    generation_.fetch_add(1, std::memory_order_release);
    return gone;
  }

  [[nodiscard]] std::vector<std::shared_ptr<Destination>> all() const {
    SharedLock lock(mutex_);
    std::vector<std::shared_ptr<Destination>> out;
    out.reserve(registry_.size());
    for (const auto& [name, destination] : registry_) out.push_back(destination);
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

  /// Redis-style channels (set once by the Broker's constructor).
  std::shared_ptr<PubSubHub> pubsub;
  /// Where durable destinations live (empty: in memory only). Set once by the constructor.
  std::filesystem::path data_dir;
  /// Recovery policy for durable destinations (BrokerOptions::salvage).
  bool salvage = false;
  /// BrokerOptions::segment_bytes (a test hook; 0: the defaults).
  std::uint64_t segment_bytes = 0;
  /// Each durable destination's own directory under data_dir: `<data_dir>/<kind>s/<file>`,
  /// `file` being the name with every byte outside [A-Za-z0-9_-] written as %XX (so "a/../b"
  /// stays one directory). An encoding longer than kMaxStorageName bytes (a 255-byte name can
  /// encode to 765, past the file system's 255) is cut to a readable prefix and ends with
  /// "~" and 16 hex digits of a 64-bit hash of the whole name (murmur2 and CRC32C): bounded,
  /// and distinct from every short encoding, which never holds "~". The catalog keeps the
  /// full name.
  static constexpr std::size_t kMaxStorageName = 200;
  [[nodiscard]] std::filesystem::path storage_dir(DestinationKind kind,
                                                  std::string_view name) const {
    std::string file;
    for (unsigned char c : name) {
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-';
      if (plain) {
        file.push_back(static_cast<char>(c));
      } else {
        constexpr char kHex[] = "0123456789ABCDEF";
        file += {'%', kHex[c >> 4], kHex[c & 15]};
      }
    }
    if (file.size() > kMaxStorageName) {
      constexpr std::size_t kHashChars = 17;  // "~" + 16 hex digits
      std::size_t keep = kMaxStorageName - kHashChars;
      while (keep > 0 && (file[keep - 1] == '%' || (keep > 1 && file[keep - 2] == '%'))) --keep;
      const auto bytes = std::as_bytes(std::span(name.data(), name.size()));
      const std::uint64_t hash = (std::uint64_t{murmur2(name)} << 32) | crc32c(bytes);
      constexpr char kHex[] = "0123456789abcdef";
      file.resize(keep);
      file.push_back('~');
      for (int shift = 60; shift >= 0; shift -= 4) file.push_back(kHex[(hash >> shift) & 15]);
    }
    return data_dir / (std::string(to_string(kind)) + "s") / file;
  }
  /// Holds the data directory's lock for the broker's lifetime.
  std::shared_ptr<void> data_dir_lock;
  /// The data directory's catalog of declarations (broker_catalog.cpp), and what guards it.
  Mutex catalog_mutex;
  std::shared_ptr<CheckpointFile> catalog GUARDED_BY(catalog_mutex);
  bool catalog_loading GUARDED_BY(catalog_mutex) = false;

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
  void open_ids(const std::filesystem::path& dir);
  /// Why the last reservation failed. @note threadsafe
  [[nodiscard]] Failure id_failure() const;

 private:
  const std::shared_ptr<Clock> clock_;
  const std::vector<std::shared_ptr<Interceptor>> interceptors_;
  mutable SharedMutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Destination>, StringHash, std::equal_to<>>
      registry_ GUARDED_BY(mutex_);
  bool closed_ GUARDED_BY(mutex_) = false;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> next_id_{1};

  /// Records a reservation covering ids below `needed`; false (and `id_failure_`) if it fails.
  bool extend_ids(std::uint64_t needed) noexcept;
  // Ids below id_limit_ are reserved durably (no limit for a broker without a data directory).
  std::atomic<std::uint64_t> id_limit_{UINT64_MAX};
  mutable Mutex id_mutex_;
  std::filesystem::path id_file_;  // set once by open_ids
  Failure id_failure_ GUARDED_BY(id_mutex_);
};

}  // namespace switchyard::detail
