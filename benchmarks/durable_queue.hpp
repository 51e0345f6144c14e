// benchmarks/durable_queue.hpp — the durable_queue_send_receive_ack family (issue 17 §2): what a
// service that needs a durable local job queue would otherwise build on SQLite, LMDB or RocksDB,
// against a durable switchyard queue, with the same semantics on every side:
//
//   send     the message is stored at the level's durability before send returns (always),
//            or written and synced within ~5 ms by a group sync (batch), or written to the OS
//            (none: survives a crash of the process, not of the machine);
//   receive  the oldest unleased message is leased (a record that it was handed out, with its
//            deadline, stored in the same store at the same durability);
//   ack      the message and its lease are removed for good, at the same durability.
//
// Levels, and what each peer is configured with for it:
//   none    switchyard Durability::none; SQLite (WAL) synchronous=OFF; LMDB MDB_NOSYNC;
//           RocksDB WAL with sync=false
//   batch   switchyard Durability::batch; SQLite synchronous=NORMAL; LMDB MDB_NOSYNC and
//           mdb_env_sync every 5 ms; RocksDB sync=false and SyncWAL every 5 ms (PeriodicSync)
//   always  switchyard Durability::always; SQLite synchronous=FULL; LMDB's default (a sync per
//           commit); RocksDB sync=true (its group commit)
//
// Shape: `producers` threads send kDurableMessages(level) messages in total (payload bytes
// each; the first 8 bytes are the message's index, the rest a fill), one consumer thread
// receives and acks each one at a time. An iteration opens a fresh store in a fresh directory
// under bench_dir() (untimed) and ends when every message was acked (and, for switchyard at
// batch, every send's completion reported it synced). The consumer checks that the indices it
// received sum to what was sent: nothing lost, nothing twice.
//
// A side is a type with
//   Store(const std::filesystem::path& dir, DurableLevel level, std::size_t payload)
//   std::string error() const;                    // empty while healthy
//   Sender sender();        bool Sender::send(std::span<const std::byte>)  (any thread, one each)
//   Receiver receiver();    std::optional<std::uint64_t> Receiver::receive_and_ack()
//                           (the index received and acked; nullopt: none ready or failed)
//   void finish();          waits for outstanding completions (may be empty)
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace switchyard_bench {

enum class DurableLevel { none, batch, always };

inline const char* level_name(DurableLevel level) noexcept {
  switch (level) {
    case DurableLevel::none:
      return "none";
    case DurableLevel::batch:
      return "batch";
    case DurableLevel::always:
      return "always";
  }
  return "?";
}

/// Messages per iteration: syncs cost ~100 µs each here, so `always` moves fewer.
inline std::uint64_t durable_messages(DurableLevel level) noexcept {
  switch (level) {
    case DurableLevel::none:
      return 20'000;
    case DurableLevel::batch:
      return 20'000;
    case DurableLevel::always:
      return 200;
  }
  return 0;
}

/// The group-sync interval every batch side uses (switchyard's default flush_interval).
inline constexpr auto kDurableSyncInterval = std::chrono::milliseconds(5);
/// Lease (visibility timeout) of a received message: far longer than an iteration.
inline constexpr std::int64_t kDurableLeaseNs = 30'000'000'000;

/// The first failure a side met, from any of its threads: what its error() reports.
class FirstError {
 public:
  void note(std::string what) {
    const std::lock_guard lock(mutex_);
    if (error_.empty()) error_ = std::move(what);
  }
  [[nodiscard]] std::string get() const {
    const std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  mutable std::mutex mutex_;
  std::string error_;
};

/// The batch level of a peer without a group sync of its own (LMDB's mdb_env_sync, RocksDB's
/// SyncWAL): a thread that calls `sync` every kDurableSyncInterval from start() until stop()
/// (or destruction). A store stops it before it closes what `sync` uses.
class PeriodicSync {
 public:
  PeriodicSync() = default;
  PeriodicSync(const PeriodicSync&) = delete;
  PeriodicSync& operator=(const PeriodicSync&) = delete;
  ~PeriodicSync() { stop(); }

  void start(std::function<void()> sync) {
    thread_ = std::thread([this, sync = std::move(sync)] {
      std::unique_lock lock(mutex_);
      while (!stopped_.wait_for(lock, kDurableSyncInterval, [this] { return stop_; })) sync();
    });
  }
  void stop() {
    if (!thread_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    stopped_.notify_one();
    thread_.join();
  }

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stop_ = false;
};

/// The benchmark name: durable_queue_send_receive_ack_<payload>B_<level>_<producers>p/<side>.
inline std::string durable_family(std::size_t payload, DurableLevel level, int producers) {
  return "durable_queue_send_receive_ack_" + std::to_string(payload) + "B_" + level_name(level) +
         "_" + std::to_string(producers) + "p";
}

/// The payload of message `index` (both sides send the same bytes).
inline void fill_durable(std::vector<std::byte>& payload, std::uint64_t index) noexcept {
  std::memset(payload.data() + sizeof index, static_cast<int>(index & 0xff),
              payload.size() - sizeof index);
  std::memcpy(payload.data(), &index, sizeof index);
}

inline std::uint64_t index_of(std::span<const std::byte> payload) noexcept {
  std::uint64_t index = 0;
  if (payload.size() >= sizeof index) std::memcpy(&index, payload.data(), sizeof index);
  return index;
}

/// Runs the family on side `Store`.
template <class Store>
void run_durable_queue(benchmark::State& state, std::size_t payload_bytes, DurableLevel level,
                       int producers) {
  const std::uint64_t total = durable_messages(level);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("durable_queue");
    std::optional<Store> store;
    store.emplace(dir->path(), level, payload_bytes);
    if (!store->error().empty()) {
      state.SkipWithError(("open: " + store->error()).c_str());
      return;
    }
    std::atomic<bool> failed{false};
    std::uint64_t received_sum = 0;
    state.ResumeTiming();
    allocations += run_threads(producers + 1, [&](int index) {
      if (index < producers) {
        auto sender = store->sender();
        std::vector<std::byte> payload(payload_bytes);
        for (std::uint64_t i = static_cast<std::uint64_t>(index); i < total;
             i += static_cast<std::uint64_t>(producers)) {
          fill_durable(payload, i);
          if (!sender.send(payload)) {
            failed.store(true, std::memory_order_relaxed);
            return;
          }
        }
        return;
      }
      auto receiver = store->receiver();
      Backoff backoff;
      for (std::uint64_t got = 0; got < total;) {
        // Relaxed: a flag that only ends the loop early; the error text is read after join.
        if (failed.load(std::memory_order_relaxed)) return;
        if (auto i = receiver.receive_and_ack()) {
          received_sum += *i;
          ++got;
          backoff.reset();
        } else if (!store->error().empty()) {
          failed.store(true, std::memory_order_relaxed);
          return;
        } else {
          backoff.pause();
        }
      }
    });
    store->finish();
    state.PauseTiming();
    const std::string error = store->error();
    store.reset();
    dir.reset();
    state.ResumeTiming();
    if (failed.load(std::memory_order_relaxed) || !error.empty() ||
        received_sum != total * (total - 1) / 2) {
      state.SkipWithError(("lost, repeated or refused a message: " + error).c_str());
      return;
    }
    items += total;
  }
  report_throughput(state, items, allocations);
}

/// Registers the family's 12 benchmarks (64 B and 1 KiB × three levels × 1 and 4 producers) for
/// side `Store`, named `<family>/<side>`.
template <class Store>
bool register_durable_queue(const char* side) {
  for (const std::size_t payload : {std::size_t{64}, std::size_t{1024}}) {
    for (const DurableLevel level :
         {DurableLevel::none, DurableLevel::batch, DurableLevel::always}) {
      for (const int producers : {1, 4}) {
        ::benchmark::RegisterBenchmark(
            (durable_family(payload, level, producers) + "/" + side).c_str(),
            [=](benchmark::State& state) {
              run_durable_queue<Store>(state, payload, level, producers);
            })
            ->UseRealTime();
      }
    }
  }
  return true;
}

}  // namespace switchyard_bench
