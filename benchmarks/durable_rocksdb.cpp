// benchmarks/durable_rocksdb.cpp — the RocksDB peer of durable_queue_send_receive_ack
// (durable_queue.hpp): a job queue in two column families of one DB.
//
//   ready   key: index (u64, big-endian: keys sort in send order)  value: payload
//   leased  key: index                                             value: deadline + payload
//   send     Put(ready, index, payload)                    (index from one process-wide counter)
//   receive  iterate ready from the consumer's floor (the least index it has not taken yet;
//            reading from the start would walk every tombstone of the messages already taken,
//            the well-known queue-on-an-LSM trap; producers commit indices slightly out of
//            order, so the floor, not the last index taken, is where an untaken one may be);
//            WriteBatch { Delete(ready, index); Put(leased, index, deadline + payload) }
//   ack      Delete(leased, index)
//
// Every write goes through the WAL. Levels: none = sync=false (written to the OS at each write),
// batch = sync=false and a thread that calls SyncWAL every kDurableSyncInterval, always =
// sync=true (RocksDB's write group: concurrent writers share one WAL sync).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <set>
#include <string>

#include "durable_queue.hpp"

namespace switchyard_bench {
namespace {

std::string big_endian(std::uint64_t key) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, key >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(key);
  return out;
}

class RocksStore {
 public:
  RocksStore(const std::filesystem::path& dir, DurableLevel level, std::size_t /*payload*/) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    options.IncreaseParallelism(2);
    write_.sync = level == DurableLevel::always;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"ready", rocksdb::ColumnFamilyOptions()},
        {"leased", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    if (!check(rocksdb::DB::Open(options, dir.string(), families, &handles, &db), "open")) return;
    db_.reset(db);
    handles_ = handles;
    if (level == DurableLevel::batch) syncer_.start([this] { check(db_->SyncWAL(), "SyncWAL"); });
  }
  ~RocksStore() {
    syncer_.stop();
    for (auto* handle : handles_) {
      if (db_) check(db_->DestroyColumnFamilyHandle(handle), "close family");
    }
    if (db_) check(db_->Close(), "close");
  }
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  [[nodiscard]] std::string error() const { return error_.get(); }

  class Sender {
   public:
    explicit Sender(RocksStore& store) : store_(store) {}
    bool send(std::span<const std::byte> payload) {
      // Relaxed: only uniqueness and (per producer) increase matter.
      const std::string key = big_endian(store_.next_.fetch_add(1, std::memory_order_relaxed));
      return store_.check(
          store_.db_->Put(store_.write_, store_.ready(), key,
                          {reinterpret_cast<const char*>(payload.data()), payload.size()}),
          "put");
    }

   private:
    RocksStore& store_;
  };

  class Receiver {
   public:
    explicit Receiver(RocksStore& store) : store_(store) {}
    std::optional<std::uint64_t> receive_and_ack() {
      rocksdb::ReadOptions read;
      const std::string floor = big_endian(floor_);
      const rocksdb::Slice lower(floor);
      read.iterate_lower_bound = &lower;
      std::unique_ptr<rocksdb::Iterator> it(store_.db_->NewIterator(read, store_.ready()));
      it->SeekToFirst();
      if (!it->Valid()) {
        store_.check(it->status(), "iterate");
        return std::nullopt;
      }
      const std::string key = it->key().ToString();
      const std::int64_t deadline = now_ns() + kDurableLeaseNs;
      lease_.assign(reinterpret_cast<const char*>(&deadline), sizeof deadline);
      lease_.append(it->value().data(), it->value().size());
      it.reset();
      const std::uint64_t index =
          index_of({reinterpret_cast<const std::byte*>(lease_.data()) + sizeof deadline,
                    lease_.size() - sizeof deadline});
      rocksdb::WriteBatch batch;
      if (!store_.check(batch.Delete(store_.ready(), key), "batch") ||
          !store_.check(batch.Put(store_.leased(), key, lease_), "batch") ||
          !store_.check(store_.db_->Write(store_.write_, &batch), "lease")) {
        return std::nullopt;
      }
      took(index_from(key));
      if (!store_.check(store_.db_->Delete(store_.write_, store_.leased(), key), "ack")) {
        return std::nullopt;
      }
      return index;
    }

   private:
    static std::uint64_t index_from(const std::string& key) {
      std::uint64_t index = 0;
      for (const char c : key) index = (index << 8) | static_cast<unsigned char>(c);
      return index;
    }
    void took(std::uint64_t index) {
      taken_above_floor_.insert(index);
      while (!taken_above_floor_.empty() && *taken_above_floor_.begin() == floor_) {
        taken_above_floor_.erase(taken_above_floor_.begin());
        ++floor_;
      }
    }

    RocksStore& store_;
    std::uint64_t floor_ = 0;                    // every index below was taken
    std::set<std::uint64_t> taken_above_floor_;  // taken indices at or above floor_
    std::string lease_;
  };

  Sender sender() { return Sender(*this); }
  Receiver receiver() { return Receiver(*this); }
  void finish() {}

 private:
  rocksdb::ColumnFamilyHandle* ready() const { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* leased() const { return handles_[2]; }
  bool check(const rocksdb::Status& status, const char* what) {
    if (status.ok()) return true;
    error_.note(std::string(what) + ": " + status.ToString());
    return false;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_;
  std::atomic<std::uint64_t> next_{0};
  PeriodicSync syncer_;
  FirstError error_;
};

[[maybe_unused]] const bool registered = register_durable_queue<RocksStore>("rocksdb");

}  // namespace
}  // namespace switchyard_bench
