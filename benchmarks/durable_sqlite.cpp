// benchmarks/durable_sqlite.cpp — the SQLite peer of durable_queue_send_receive_ack
// (durable_queue.hpp): the jobs table a service would keep in WAL mode.
//
//   CREATE TABLE jobs(id INTEGER PRIMARY KEY, lease_until INTEGER NOT NULL DEFAULT 0,
//                     attempts INTEGER NOT NULL DEFAULT 0, payload BLOB NOT NULL)
//   send     INSERT INTO jobs(payload) VALUES(?)                                  (one txn)
//   receive  UPDATE jobs SET lease_until = now + lease, attempts = attempts + 1
//            WHERE id = (SELECT id FROM jobs WHERE lease_until <= now ORDER BY id LIMIT 1)
//            RETURNING id, payload                                                (one txn)
//   ack      DELETE FROM jobs WHERE id = ?                                        (one txn)
//
// One connection per thread (SQLite serialises writers on the WAL lock; a busy connection
// waits through busy_timeout), prepared statements, synchronous = OFF / NORMAL / FULL for
// none / batch / always.
#include <sqlite3.h>

#include <string>

#include "durable_queue.hpp"

namespace switchyard_bench {
namespace {

class SqliteStore {
 public:
  SqliteStore(const std::filesystem::path& dir, DurableLevel level, std::size_t /*payload*/)
      : path_((dir / "jobs.db").string()), level_(level) {
    Connection setup(*this);
    if (!setup.ok()) return;
    setup.exec(
        "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, lease_until INTEGER NOT NULL "
        "DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, payload BLOB NOT NULL)");
  }

  [[nodiscard]] std::string error() const { return error_.get(); }

  /// One connection (one thread's), configured for the store's level.
  class Connection {
   public:
    explicit Connection(SqliteStore& store) : store_(store) {
      if (sqlite3_open_v2(store.path_.c_str(), &db_,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        fail("open");
        return;
      }
      sqlite3_busy_timeout(db_, 60'000);
      exec("PRAGMA journal_mode=WAL");
      switch (store.level_) {
        case DurableLevel::none:
          exec("PRAGMA synchronous=OFF");
          break;
        case DurableLevel::batch:
          exec("PRAGMA synchronous=NORMAL");
          break;
        case DurableLevel::always:
          exec("PRAGMA synchronous=FULL");
          break;
      }
    }
    ~Connection() {
      for (sqlite3_stmt* s : statements_) sqlite3_finalize(s);
      sqlite3_close(db_);
    }
    Connection(Connection&& other) noexcept
        : store_(other.store_),
          db_(std::exchange(other.db_, nullptr)),
          statements_(std::move(other.statements_)) {
      other.statements_.clear();
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection& operator=(Connection&&) = delete;

    [[nodiscard]] bool ok() const noexcept { return db_ != nullptr; }
    void exec(const char* sql) {
      char* message = nullptr;
      if (db_ != nullptr && sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        store_.fail(std::string(sql) + ": " + (message != nullptr ? message : "?"));
      }
      sqlite3_free(message);
    }
    sqlite3_stmt* prepare(const char* sql) {
      sqlite3_stmt* statement = nullptr;
      if (db_ == nullptr || sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) {
        fail(sql);
        return nullptr;
      }
      statements_.push_back(statement);
      return statement;
    }
    void fail(const std::string& what) {
      store_.fail(what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "no connection"));
    }

   private:
    SqliteStore& store_;
    sqlite3* db_ = nullptr;
    std::vector<sqlite3_stmt*> statements_;
  };

  class Sender {
   public:
    explicit Sender(SqliteStore& store)
        : db_(store), insert_(db_.prepare("INSERT INTO jobs(payload) VALUES(?1)")) {}
    bool send(std::span<const std::byte> payload) {
      if (insert_ == nullptr) return false;
      sqlite3_bind_blob(insert_, 1, payload.data(), static_cast<int>(payload.size()),
                        SQLITE_STATIC);
      const int rc = sqlite3_step(insert_);
      sqlite3_reset(insert_);
      if (rc != SQLITE_DONE) db_.fail("insert");
      return rc == SQLITE_DONE;
    }

   private:
    Connection db_;
    sqlite3_stmt* insert_;
  };

  class Receiver {
   public:
    explicit Receiver(SqliteStore& store)
        : db_(store),
          lease_(db_.prepare(
              "UPDATE jobs SET lease_until = ?1 + ?2, attempts = attempts + 1 WHERE id = (SELECT "
              "id FROM jobs WHERE lease_until <= ?1 ORDER BY id LIMIT 1) RETURNING id, payload")),
          ack_(db_.prepare("DELETE FROM jobs WHERE id = ?1")) {}
    std::optional<std::uint64_t> receive_and_ack() {
      if (lease_ == nullptr || ack_ == nullptr) return std::nullopt;
      sqlite3_bind_int64(lease_, 1, now_ns());
      sqlite3_bind_int64(lease_, 2, kDurableLeaseNs);
      int rc = sqlite3_step(lease_);
      if (rc != SQLITE_ROW) {
        sqlite3_reset(lease_);
        if (rc != SQLITE_DONE) db_.fail("lease");
        return std::nullopt;
      }
      const sqlite3_int64 id = sqlite3_column_int64(lease_, 0);
      const std::uint64_t index =
          index_of({static_cast<const std::byte*>(sqlite3_column_blob(lease_, 1)),
                    static_cast<std::size_t>(sqlite3_column_bytes(lease_, 1))});
      // The statement ends (and commits) at SQLITE_DONE, after its RETURNING rows.
      while ((rc = sqlite3_step(lease_)) == SQLITE_ROW) {
      }
      sqlite3_reset(lease_);
      if (rc != SQLITE_DONE) {
        db_.fail("lease");
        return std::nullopt;
      }
      sqlite3_bind_int64(ack_, 1, id);
      rc = sqlite3_step(ack_);
      sqlite3_reset(ack_);
      if (rc != SQLITE_DONE) {
        db_.fail("ack");
        return std::nullopt;
      }
      return index;
    }

   private:
    Connection db_;
    sqlite3_stmt* lease_;
    sqlite3_stmt* ack_;
  };

  Sender sender() { return Sender(*this); }
  Receiver receiver() { return Receiver(*this); }
  void finish() {}

 private:
  void fail(std::string message) { error_.note(std::move(message)); }

  std::string path_;
  DurableLevel level_;
  FirstError error_;
};

[[maybe_unused]] const bool registered = register_durable_queue<SqliteStore>("sqlite_wal");

}  // namespace
}  // namespace switchyard_bench
