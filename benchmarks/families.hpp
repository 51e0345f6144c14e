// benchmarks/families.hpp — the shape of each family, shared by switchyard's side and its peers
// so both move the same items in the same amounts. Change a number here, never in one side.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "harness.hpp"

namespace switchyard_bench {

// handoff_*, latency_oneway: 8-byte items through one bounded structure of this capacity.
inline constexpr std::size_t kRingCapacity = 4096;
/// Items moved per benchmark iteration in the handoff families (over all producers).
inline constexpr std::uint64_t kHandoffItems = std::uint64_t{1} << 20;
/// Gap between two latency samples (the queue is empty again long before the next one).
inline constexpr std::int64_t kLatencyPaceNs = 1'000;

// queue_*, topic_fanout4: 64-byte messages.
struct Message64 {
  std::uint64_t seq = 0;
  std::array<std::byte, 56> body{};
};
static_assert(sizeof(Message64) == 64, "queue and topic families move 64-byte messages");
/// Messages sent per benchmark iteration in the queue and topic families.
inline constexpr std::uint64_t kQueueMessages = 200'000;
/// Capacity (messages) of the bounded structure in the queue families; ZeroMQ's default HWM.
inline constexpr std::size_t kQueueCapacity = 1000;
/// Messages per send/receive/ack call in queue_send_receive_ack_batch64.
inline constexpr std::size_t kQueueBatch = 64;
/// Subscribers in topic_fanout4.
inline constexpr int kFanout = 4;

// persist_*: 1 KiB records.
inline constexpr std::size_t kRecordBytes = 1024;
/// The content of record `seq` (both sides write the same bytes).
inline void fill_record(std::byte* record, std::uint64_t seq) noexcept {
  std::memset(record, static_cast<int>(seq & 0xff), kRecordBytes);
  std::memcpy(record, &seq, sizeof seq);
}
/// Records appended per benchmark iteration (64 MiB).
inline constexpr std::uint64_t kPersistRecords = 65'536;
/// Records appended per iteration in persist_append_1k_group_commit (16 MiB: syncs are slow).
inline constexpr std::uint64_t kGroupCommitAppendRecords = 16'384;
/// Records per fdatasync in persist_append_1k_group_commit (switchyard's durability=batch must
/// be configured with the same batch so the ratio compares like with like).
inline constexpr std::size_t kGroupCommitRecords = 64;
/// Size of the log in persist_recover_1g: $SWITCHYARD_BENCH_RECOVER_BYTES, default 1 GiB.
inline std::uint64_t recover_bytes() {
  return env_u64("SWITCHYARD_BENCH_RECOVER_BYTES", std::uint64_t{1} << 30);
}

// queue_memory_1m: messages resident at once.
inline constexpr std::uint64_t kMemoryMessages = 1'000'000;

// roundtrip_parked: round trips per run (one iteration; p50_ns and p99_ns are taken over them).
inline constexpr std::uint64_t kRoundTrips = 50'000;

// pubsub_fanout4: 64-byte messages published on one channel with kFanout subscribers.
/// Messages published per iteration (each is delivered kFanout times).
inline constexpr std::uint64_t kPubsubMessages = 50'000;
/// Messages per iteration of the Redis peers of the queue families (a round trip per command
/// in the single-op family: a smaller count keeps the run short; rates compare all the same).
inline constexpr std::uint64_t kRedisQueueMessages = 20'000;

}  // namespace switchyard_bench
