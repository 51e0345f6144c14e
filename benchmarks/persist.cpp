// benchmarks/persist.cpp — switchyard's side of the persistence families, through the public
// API: a durable topic of one partition on a broker with a data directory under bench_dir().
// The floors are in persist_floor.cpp.
//
//   persist_append_1k/switchyard               kPersistRecords 1 KiB records sent to a topic
//                                              declared with Durability::none.
//   persist_append_1k_group_commit/switchyard  kGroupCommitAppendRecords records at
//                                              Durability::batch; the iteration ends when every
//                                              send's completion (fired after its sync) came.
//   persist_recover_1g/switchyard              a broker opened on a directory holding a
//                                              recover_bytes() topic after a clean close: the
//                                              open scans and CRC-checks every record.
#include <switchyard/switchyard.hpp>

#include <atomic>
#include <filesystem>
#include <string>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

switchyard::TopicOptions durable_log(switchyard::Durability durability) {
  return {.partitions = 1,
          .retention = {.records = std::uint64_t{1} << 40,
                        .bytes = std::uint64_t{1} << 44,
                        .age = switchyard::Duration{0}},
          .durability = durability};
}

std::string_view record_view(const std::byte* record) {
  return {reinterpret_cast<const char*>(record), kRecordBytes};
}

void persist_append(benchmark::State& state, switchyard::Durability durability,
                    std::uint64_t records) {
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  alignas(64) std::array<std::byte, kRecordBytes> record{};
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("persist_append");
    auto broker =
        std::make_unique<switchyard::Broker>(switchyard::BrokerOptions{.data_dir = dir->path()});
    broker->declare_topic("log", durable_log(durability));
    auto producer = broker->producer();
    std::atomic<std::uint64_t> completed{0};
    switchyard::SendOptions options;
    if (durability == switchyard::Durability::batch) {
      options.on_complete = [&](const switchyard::Result<switchyard::SendReceipt>& r) {
        if (!r) ok = false;
        completed.fetch_add(1, std::memory_order_release);
      };
    }
    state.ResumeTiming();
    const std::uint64_t before = allocation_count();
    for (std::uint64_t i = 0; i < records; ++i) {
      fill_record(record.data(), i);
      if (!producer.send("log", record_view(record.data()), options)) ok = false;
    }
    if (durability == switchyard::Durability::batch) {
      Backoff backoff;
      while (completed.load(std::memory_order_acquire) < records && ok) backoff.pause();
    }
    allocations += allocation_count() - before;
    state.PauseTiming();
    broker.reset();
    dir.reset();
    state.ResumeTiming();
    items += records;
    if (!ok) {
      state.SkipWithError("a durable send failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(items * kRecordBytes));
  report_throughput(state, items, allocations);
}

void persist_append_switchyard(benchmark::State& state) {
  persist_append(state, switchyard::Durability::none, kPersistRecords);
}
void persist_append_group_commit_switchyard(benchmark::State& state) {
  persist_append(state, switchyard::Durability::batch, kGroupCommitAppendRecords);
}

SWITCHYARD_BENCHMARK("persist_append_1k/switchyard", persist_append_switchyard);
SWITCHYARD_BENCHMARK("persist_append_1k_group_commit/switchyard",
                     persist_append_group_commit_switchyard);

void persist_recover_switchyard(benchmark::State& state) {
  const TempDir dir("persist_recover");
  const std::uint64_t records = recover_bytes() / kRecordBytes;
  {
    switchyard::Broker broker({.data_dir = dir.path()});
    broker.declare_topic("log", durable_log(switchyard::Durability::none));
    auto producer = broker.producer();
    alignas(64) std::array<std::byte, kRecordBytes> record{};
    for (std::uint64_t i = 0; i < records; ++i) {
      fill_record(record.data(), i);
      if (!producer.send("log", record_view(record.data()))) {
        state.SkipWithError("could not write the log to recover");
        return;
      }
    }
  }
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    switchyard::Broker broker({.data_dir = dir.path()});  // recovers the topic from the catalog
    if (!broker.contains("log") ||
        broker.topic("log").stats().partitions.at(0).end_offset != records) {
      state.SkipWithError("recovery did not find every record");
      break;
    }
    bytes += records * kRecordBytes;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

SWITCHYARD_BENCHMARK("persist_recover_1g/switchyard", persist_recover_switchyard);

}  // namespace
}  // namespace switchyard_bench
