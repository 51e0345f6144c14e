// benchmarks/durable_lmdb.cpp — the LMDB peer of durable_queue_send_receive_ack
// (durable_queue.hpp): two databases in one environment, as a job queue on a B+tree keeps them.
//
//   ready   key: index (u64, MDB_INTEGERKEY)  value: payload
//   leased  key: index                        value: lease deadline (i64 ns) + payload
//   send     txn { put ready[index] = payload }                             (index from one
//            process-wide counter: what an in-process queue over LMDB would do)
//   receive  txn { first of ready; delete it; put leased[index] = deadline + payload }
//   ack      txn { delete leased[index] }
//
// LMDB allows one write transaction at a time (it holds a mutex for it): 4 producers take turns.
// Levels: none = MDB_NOSYNC (written to the page cache at commit), batch = MDB_NOSYNC and a
// thread that calls mdb_env_sync every kDurableSyncInterval, always = LMDB's default (data and
// meta page synced at every commit).
#include <lmdb.h>

#include <string>

#include "durable_queue.hpp"

namespace switchyard_bench {
namespace {

class LmdbStore {
 public:
  LmdbStore(const std::filesystem::path& dir, DurableLevel level, std::size_t /*payload*/) {
    check(mdb_env_create(&env_), "env_create");
    if (env_ == nullptr) return;
    check(mdb_env_set_maxdbs(env_, 2), "set_maxdbs");
    check(mdb_env_set_mapsize(env_, std::size_t{8} << 30), "set_mapsize");
    const unsigned flags = level == DurableLevel::always ? 0u : unsigned{MDB_NOSYNC};
    if (!check(mdb_env_open(env_, dir.c_str(), flags | MDB_NOTLS, 0644), "env_open")) return;
    MDB_txn* txn = nullptr;
    if (!check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin")) return;
    check(mdb_dbi_open(txn, "ready", MDB_CREATE | MDB_INTEGERKEY, &ready_), "dbi_open ready");
    check(mdb_dbi_open(txn, "leased", MDB_CREATE | MDB_INTEGERKEY, &leased_), "dbi_open leased");
    check(mdb_txn_commit(txn), "commit");
    if (level == DurableLevel::batch) {
      syncer_.start([this] { check(mdb_env_sync(env_, 1), "env_sync"); });
    }
  }
  ~LmdbStore() {
    syncer_.stop();
    if (env_ != nullptr) mdb_env_close(env_);
  }
  LmdbStore(const LmdbStore&) = delete;
  LmdbStore& operator=(const LmdbStore&) = delete;

  [[nodiscard]] std::string error() const { return error_.get(); }

  class Sender {
   public:
    explicit Sender(LmdbStore& store) : store_(store) {}
    bool send(std::span<const std::byte> payload) {
      // Relaxed: only uniqueness and (per producer) increase matter; the txn orders the rest.
      std::uint64_t key = store_.next_.fetch_add(1, std::memory_order_relaxed);
      MDB_txn* txn = nullptr;
      if (!store_.check(mdb_txn_begin(store_.env_, nullptr, 0, &txn), "txn_begin")) return false;
      MDB_val k{sizeof key, &key};
      MDB_val v{payload.size(), const_cast<std::byte*>(payload.data())};
      if (!store_.check(mdb_put(txn, store_.ready_, &k, &v, 0), "put")) {
        mdb_txn_abort(txn);
        return false;
      }
      return store_.check(mdb_txn_commit(txn), "commit");
    }

   private:
    LmdbStore& store_;
  };

  class Receiver {
   public:
    explicit Receiver(LmdbStore& store) : store_(store) {}
    std::optional<std::uint64_t> receive_and_ack() {
      MDB_txn* txn = nullptr;
      if (!store_.check(mdb_txn_begin(store_.env_, nullptr, 0, &txn), "txn_begin")) return {};
      MDB_cursor* cursor = nullptr;
      MDB_val k{}, v{};
      if (!store_.check(mdb_cursor_open(txn, store_.ready_, &cursor), "cursor_open")) {
        mdb_txn_abort(txn);
        return {};
      }
      const int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
      if (rc == MDB_NOTFOUND) {
        mdb_cursor_close(cursor);
        mdb_txn_abort(txn);
        return {};
      }
      std::uint64_t key = 0;
      std::memcpy(&key, k.mv_data, sizeof key);
      const std::int64_t deadline = now_ns() + kDurableLeaseNs;
      lease_.resize(sizeof deadline + v.mv_size);
      std::memcpy(lease_.data(), &deadline, sizeof deadline);
      std::memcpy(lease_.data() + sizeof deadline, v.mv_data, v.mv_size);
      const std::uint64_t index =
          index_of({lease_.data() + sizeof deadline, lease_.size() - sizeof deadline});
      MDB_val lk{sizeof key, &key};
      MDB_val lv{lease_.size(), lease_.data()};
      const bool leased = store_.check(rc, "cursor_get") &&
                          store_.check(mdb_cursor_del(cursor, 0), "cursor_del") &&
                          store_.check(mdb_put(txn, store_.leased_, &lk, &lv, 0), "put lease");
      mdb_cursor_close(cursor);
      if (!leased) {
        mdb_txn_abort(txn);
        return {};
      }
      if (!store_.check(mdb_txn_commit(txn), "commit lease")) return {};
      // ack
      if (!store_.check(mdb_txn_begin(store_.env_, nullptr, 0, &txn), "txn_begin")) return {};
      if (!store_.check(mdb_del(txn, store_.leased_, &lk, nullptr), "del lease")) {
        mdb_txn_abort(txn);
        return {};
      }
      if (!store_.check(mdb_txn_commit(txn), "commit ack")) return {};
      return index;
    }

   private:
    LmdbStore& store_;
    std::vector<std::byte> lease_;
  };

  Sender sender() { return Sender(*this); }
  Receiver receiver() { return Receiver(*this); }
  void finish() {}

 private:
  bool check(int rc, const char* what) {
    if (rc == MDB_SUCCESS) return true;
    error_.note(std::string(what) + ": " + mdb_strerror(rc));
    return false;
  }

  MDB_env* env_ = nullptr;
  MDB_dbi ready_ = 0;
  MDB_dbi leased_ = 0;
  std::atomic<std::uint64_t> next_{0};
  PeriodicSync syncer_;
  FirstError error_;
};

[[maybe_unused]] const bool registered = register_durable_queue<LmdbStore>("lmdb");

}  // namespace
}  // namespace switchyard_bench
