// src/broker/storage_context.hpp — where a broker with a data directory keeps its durable
// destinations, and the one owner that opens their storage.
//
//   <data_dir>/lock            the data-directory lock (storage/dir_lock.hpp), held for the
//                              context's lifetime: one live broker per directory
//   <data_dir>/ids             the message ids (route/registry.hpp)
//   <data_dir>/catalog-*.ckpt  the catalog of declarations (broker_catalog.cpp)
//   <data_dir>/queues/<name>   a durable queue's journal (durable/queue_journal.hpp)
//   <data_dir>/topics/<name>   a durable topic's partitions p<N> and its group offsets
//   <data_dir>/transactions    the transaction log (broker/transaction_log.hpp): opened
//                              first, it applies an interrupted commit's parts as each
//                              destination's storage opens
//
// Group commit: each destination declared with `Durability::batch` gets one Flusher
// (storage/segment_log.hpp) that all its logs register with — a queue's two journal logs, a
// topic's partitions —, its thread syncing each log at that log's own interval. Not one per
// broker: a Flusher syncs its logs one after another, and with 8 or 32 batch destinations
// under load one shared thread delayed completions 2.5 to 8 times longer than a thread per
// destination did (msync of one file does not overlap another's on the same thread).
//
// Sizing: a destination's `storage` fields that are set win over the broker's, the broker's
// over each log's own defaults (`apply_storage_options`, storage/segment_log.hpp).
//
// Threads: `open_queue`, `open_topic`, `remove` and `storage_dir` may be called from any thread
// (declares run under the registry's exclusive lock; opening different destinations does not
// share state). The catalog is used under its own mutex.
// Lifetime: shared by the Broker and its registry (which keeps it, and so the lock, as long as a
// Producer can write ids); the storage it opened belongs to the destination it was opened for.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include <string_view>

#include "broker/catalog_records.hpp"
#include "route/destination.hpp"
#include "storage/checkpoint_file.hpp"
#include "storage/dir_lock.hpp"
#include "storage/storage_counters.hpp"
#include "switchyard/broker.hpp"
#include "switchyard/clock.hpp"
#include "sync/mutex.hpp"
#include "util/logger.hpp"

namespace switchyard::detail {

class Flusher;
class QueueJournal;
class TransactionLog;
struct TopicStorage;

class StorageContext {
 public:
  /// Locks `options.data_dir` (creating it); throws `Error` when another live broker holds it
  /// or the directory cannot be used.
  StorageContext(const BrokerOptions& options, std::shared_ptr<Clock> clock);
  ~StorageContext();
  StorageContext(const StorageContext&) = delete;
  StorageContext& operator=(const StorageContext&) = delete;

  [[nodiscard]] const std::filesystem::path& data_dir() const noexcept { return data_dir_; }
  /// What every segment log this context opened did (`Broker::stats().storage`).
  /// @note threadsafe, lock-free
  [[nodiscard]] StorageStats storage_stats() const noexcept { return counters_->stats(); }

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
    return storage_dir(data_dir_, kind, name);
  }
  /// The same, for any data directory (switchyard-inspect finds a destination's files by it).
  [[nodiscard]] static std::filesystem::path storage_dir(const std::filesystem::path& data_dir,
                                                         DestinationKind kind,
                                                         std::string_view name);

  /// Opens (creating or recovering) the journal of durable queue `name`, sized by
  /// `options.storage` over the broker's `BrokerOptions::storage`. Throws `Error`
  /// (`io_error`, `corrupt`, `disk_full`, ...) naming the queue and the file.
  std::unique_ptr<QueueJournal> open_queue(std::string_view name, const QueueOptions& options);
  /// Opens (creating or recovering) the partition logs and group offsets of durable topic
  /// `name`, with what recovery found. Throws `Error` naming the topic and the file.
  TopicStorage open_topic(std::string_view name, const TopicOptions& options);
  /// Removes the directory of a deleted destination, best effort (a leftover is re-used by the
  /// next declare of that name, and the catalog no longer lists it either way).
  void remove(DestinationKind kind, std::string_view name) noexcept;

  /// The broker's transaction log (opened with the context; never null). @note threadsafe
  [[nodiscard]] TransactionLog& transactions() const noexcept { return *transactions_; }

  /// The catalog of declarations: opens it (throws `Error` when it is unreadable) and holds
  /// commits back until `catalog_loaded` (recovery declares what it lists and must not rewrite
  /// it half-way). Called once, by the Broker's constructor.
  CatalogEntries open_catalog();
  void catalog_loaded();
  /// Replaces the catalog with `build()` (run under the catalog's mutex, so that concurrent
  /// changes are written in order), unless it is still loading. Throws `Error` when the write
  /// fails. @note threadsafe
  template <class Build>
  void commit_catalog(Build&& build) {
    MutexLock lock(catalog_mutex_);
    if (!catalog_ || catalog_loading_) return;
    write_catalog_locked(build());
  }

 private:
  /// A new destination's group-commit thread (batch durability; null otherwise).
  static std::shared_ptr<Flusher> group_commit(Durability durability);
  /// What a log of `what` (e.g. "queue 'jobs'") calls when a failed sync makes it read-only:
  /// an error on the broker's log (empty without one).
  [[nodiscard]] std::function<void(Status)> failure_log(std::string what) const;
  void write_catalog_locked(const CatalogEntries& catalog) REQUIRES(catalog_mutex_);

  const std::filesystem::path data_dir_;
  const bool salvage_;                 // BrokerOptions::salvage
  const StorageOptions storage_;       // BrokerOptions::storage: every destination's defaults
  const std::shared_ptr<Clock> clock_;
  const Logger log_;  // BrokerOptions::log
  // The counters of every log opened here (each log holds a share).
  const std::shared_ptr<StorageCounters> counters_ = std::make_shared<StorageCounters>();
  DirLock lock_;
  std::unique_ptr<TransactionLog> transactions_;  // set by the constructor

  Mutex catalog_mutex_;
  std::unique_ptr<CheckpointFile> catalog_ GUARDED_BY(catalog_mutex_);
  bool catalog_loading_ GUARDED_BY(catalog_mutex_) = false;
};

}  // namespace switchyard::detail
