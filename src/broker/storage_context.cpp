// The storage context: the data-directory lock, storage names, opening every durable
// destination's storage (with its group-commit thread), and the catalog's file. Design:
// storage_context.hpp.
#include "broker/storage_context.hpp"

#include "broker/transaction_log.hpp"

#include <algorithm>
#include <span>
#include <string>

#include "durable/durable_partition_log.hpp"
#include "durable/queue_journal.hpp"
#include "storage/file.hpp"
#include "storage/segment_log.hpp"
#include "topic/topic_state.hpp"
#include "util/crc32c.hpp"
#include "util/murmur2.hpp"

namespace switchyard::detail {

namespace {

DirLock lock_or_throw(const std::filesystem::path& dir) {
  auto lock = DirLock::acquire(dir);
  if (!lock) throw Error(lock.code(), lock.message());
  return std::move(*lock);
}

/// Segment size of a durable topic's partitions: a quarter of the byte retention (so retention
/// deletes in steps of a quarter), 64 KiB to 64 MiB, and always room for the largest record
/// (max_payload plus a largest key and group and some headers).
std::uint64_t segment_bytes_for(const TopicOptions& options) noexcept {
  constexpr std::uint64_t kMin = 64 * 1024, kMax = 64ull << 20, kSlack = 192 * 1024;
  const std::uint64_t quarter = options.retention.bytes == 0 ? kMax : options.retention.bytes / 4;
  return std::max<std::uint64_t>(std::clamp(quarter, kMin, kMax), options.max_payload + kSlack);
}

}  // namespace

StorageContext::StorageContext(const BrokerOptions& options, std::shared_ptr<Clock> clock)
    : data_dir_(options.data_dir),
      salvage_(options.salvage),
      storage_(options.storage),
      clock_(std::move(clock)),
      log_(options.log),
      lock_(lock_or_throw(options.data_dir)) {
  SegmentLogOptions log;
  log.salvage = salvage_;
  log.clock = clock_;
  log.counters = counters_;
  log.on_failure = failure_log("the transaction log");
  transactions_ = TransactionLog::open(data_dir_, std::move(log));
}

std::function<void(Status)> StorageContext::failure_log(std::string what) const {
  if (!log_.enabled()) return {};
  return [log = log_, what = std::move(what)](const Status& failure) {
    log.log(LogLevel::error, "storage",
            "{}: {}; its log is read-only from now on (sends fail with io_error, nothing "
            "acknowledged after the failure)",
            what, failure.message());
  };
}

StorageContext::~StorageContext() = default;

std::filesystem::path StorageContext::storage_dir(const std::filesystem::path& data_dir,
                                                  DestinationKind kind, std::string_view name) {
  std::string file;
  for (unsigned char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
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

std::shared_ptr<Flusher> StorageContext::group_commit(Durability durability) {
  return durability == Durability::batch ? std::make_shared<Flusher>() : nullptr;
}

std::unique_ptr<QueueJournal> StorageContext::open_queue(std::string_view name,
                                                         const QueueOptions& queue) {
  QueueJournalOptions options;
  options.log.durability = queue.durability;
  options.log.salvage = salvage_;
  apply_storage_options(storage_, options.log);
  apply_storage_options(queue.storage, options.log);
  // A segment size set at either level applies to the settlements too (else their 1 MiB).
  if (queue.storage.segment_bytes != 0 || storage_.segment_bytes != 0) {
    options.settlement_segment_bytes = options.log.segment_bytes;
  }
  options.log.clock = clock_;
  options.dedup_window_ns = queue.dedup_window.count();  // where its dedup ids can be
  options.log.owner = StorageOwner::of(OwnerKind::queue, StreamRole::records, name, 0);
  options.log.flusher = group_commit(queue.durability);
  options.log.on_failure = failure_log("queue '" + std::string(name) + "'");
  options.log.counters = counters_;
  auto opened = QueueJournal::open(storage_dir(DestinationKind::queue, name), options);
  if (!opened) {
    throw Error(opened.code(), "queue '" + std::string(name) + "': " + opened.message());
  }
  // A transaction a crash interrupted acks its messages before the queue replays the journal.
  if (auto applied = transactions_->recover_queue(name, **opened); !applied) {
    throw Error(applied.code(), "queue '" + std::string(name) +
                                    "': applying an interrupted transaction: " + applied.message());
  }
  return std::move(*opened);
}

TopicStorage StorageContext::open_topic(std::string_view name, const TopicOptions& options) {
  auto fail = [&](const Failure& f) {
    throw Error(f.code, "durable topic '" + std::string(name) + "': " + f.message);
  };
  const std::filesystem::path dir = storage_dir(DestinationKind::topic, name);
  SegmentLogOptions log;
  log.segment_bytes = segment_bytes_for(options);
  apply_storage_options(storage_, log);
  apply_storage_options(options.storage, log);
  log.durability = options.durability;
  log.salvage = salvage_;
  log.clock = clock_;
  log.flusher = group_commit(options.durability);
  log.counters = counters_;
  RetentionPolicy retention;  // none for Cleanup::compact: compaction alone bounds the log
  if (options.cleanup != Cleanup::compact) {
    retention.max_records = options.retention.records;
    retention.max_bytes = options.retention.bytes;
    retention.max_age = options.retention.age;
  }
  TopicStorage storage;
  storage.partitions.reserve(options.partitions);
  for (std::uint32_t p = 0; p < options.partitions; ++p) {
    std::string partition_dir = std::to_string(p);
    partition_dir.insert(partition_dir.begin(), 'p');  // (not "p" + ...: GCC 12 warns falsely)
    log.owner = StorageOwner::of(OwnerKind::topic, StreamRole::records, name, p);
    log.on_failure =
        failure_log("topic '" + std::string(name) + "' partition " + std::to_string(p));
    auto opened = DurablePartitionLog::open(p, dir / partition_dir, log, retention, clock_);
    if (!opened) fail(opened.failure());
    const SegmentLog& stream = (*opened)->log();
    StreamRecovery& r = storage.recovery.emplace_back();
    r.kind = StreamRecovery::Kind::topic;
    r.destination = std::string(name);
    r.partition = p;
    add_recovery(r, stream.recovery_stats());
    r.restored = stream.recovery_stats().records;
    storage.partitions.push_back(std::move(*opened));
  }
  auto offsets = OffsetStore::open_topic(dir / "offsets", name);
  if (!offsets) fail(offsets.failure());
  const auto committed = offsets->groups_per_partition(options.partitions);
  for (std::uint32_t p = 0; p < options.partitions; ++p) {
    storage.recovery[p].committed_groups += committed[p];
  }
  for (const std::string& damaged : offsets->damaged()) {
    storage.recovery.front().events.push_back(damaged + " (fell back to the previous generation)");
  }
  storage.offsets.emplace(std::move(*offsets));
  // A transaction a crash interrupted commits its offsets before the topic loads them.
  if (auto applied = transactions_->recover_topic(name, storage); !applied) {
    fail(Failure{applied.code(), "applying an interrupted transaction: " + applied.message()});
  }
  return storage;
}

void StorageContext::remove(DestinationKind kind, std::string_view name) noexcept {
  try {
    (void)remove_tree(storage_dir(kind, name));
  } catch (...) {
    // Best effort (an allocation failed while naming the directory): the leftover is re-used.
  }
}

CatalogEntries StorageContext::open_catalog() {
  CatalogEntries entries;
  auto opened = open_catalog_file(data_dir_, entries);
  if (!opened) throw Error(opened.code(), "data directory catalog: " + opened.message());
  MutexLock lock(catalog_mutex_);
  catalog_ = std::make_unique<CheckpointFile>(std::move(*opened));
  catalog_loading_ = true;
  return entries;
}

void StorageContext::catalog_loaded() {
  MutexLock lock(catalog_mutex_);
  catalog_loading_ = false;
}

void StorageContext::write_catalog_locked(const CatalogEntries& catalog) {
  if (auto committed = catalog_->commit(encode_catalog(catalog)); !committed) {
    throw Error(committed.code(), "data directory catalog: " + committed.message());
  }
}

}  // namespace switchyard::detail
