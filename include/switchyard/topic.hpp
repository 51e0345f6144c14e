// switchyard/topic.hpp — a Kafka-style partitioned log: its options, its statistics, and the
// handle the broker gives out.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/durability.hpp"
#include "switchyard/export.hpp"
#include "switchyard/storage_options.hpp"

namespace switchyard {

class Transport;

namespace detail {
class Access;
class TopicBase;
}  // namespace detail

/// How much of each partition's log is kept. A record leaves the log (oldest first) as soon as
/// keeping it would break any of the three limits. A zero limit means "no limit of this kind",
/// but `records` and `bytes` may not both be zero: in memory, retention is what bounds memory.
///
/// Memory actually held per partition: the retained records, plus at most one storage chunk
/// (a quarter of the limits, at most 1024 records) of records already out of retention but
/// not yet freed, because storage is freed a whole chunk at a time.
struct Retention {
  /// Most records kept per partition; 0: no record limit (then `bytes` must not be 0).
  std::uint64_t records = 1'000'000;
  /// Most bytes (key + payload) kept per partition; 0: no byte limit.
  std::uint64_t bytes = 256ull * 1024 * 1024;
  /// Oldest record kept, by the broker's monotonic clock; 0: no age limit. A record's age
  /// counts from when it was sent (its producer's stamp, like Kafka's CreateTime; a forwarded
  /// message keeps its first send's), and never from before the record ahead of it in the
  /// partition. Durable topics count from the append.
  /// 0 to Duration::max() (a deadline past the clock's range saturates: kept forever);
  /// negative is refused with `Errc::invalid_argument`.
  Duration age = std::chrono::hours(24 * 7);
  friend bool operator==(const Retention&, const Retention&) = default;
};

/// What a topic does with old records (Kafka's `cleanup.policy`).
///  * `delete_records` ("delete", the default): records leave by `Retention` only.
///  * `compact` ("compact"): log compaction. The topic keeps at least the latest record of
///    every key; older records of a key are removed in the background (sealed storage only:
///    the newest records, the memory log's open chunk or a durable log's active segment, are
///    never compacted, so a key may show several records until they age into sealed storage).
///    A *tombstone* — a record with an empty payload and the `kTombstoneHeader` header —
///    deletes its key: compaction removes the key's older records at once and the tombstone
///    itself `delete_retention` after it was appended (so a reader that is behind still sees
///    it). `Retention` does not apply (its `records` and `bytes` may both be 0); memory is
///    bounded by the number of keys. Every record needs a key (a keyless send fails with
///    `Errc::invalid_argument`, as Kafka refuses one).
///  * `compact_delete` ("compact,delete"): both — compaction, and `Retention` on what is left.
/// Offsets never change: compaction leaves holes that readers (polls, `seek`, committed
/// offsets) step over; a group's position inside a hole reads the next record after it.
enum class Cleanup : std::uint8_t { delete_records, compact, compact_delete };

/// The header that marks a record with an empty payload as a tombstone of its key on a
/// compacted topic (its value is ignored): `send(topic, "", {.key = k, .headers =
/// {{kTombstoneHeader, ""}}})`. Kafka's tombstone is a null value; switchyard payloads are
/// never null, so the mark says it. A record with a payload is never a tombstone.
inline constexpr std::string_view kTombstoneHeader = "x-tombstone";

/// Everything a topic is declared with. Re-declaring with different options fails with
/// `Errc::option_mismatch`; with equal options it is a no-op.
struct TopicOptions {
  /// Number of partitions, 1 to 65536. Records of one key stay in one partition, in order.
  std::uint32_t partitions = 1;
  Retention retention{};
  /// Largest payload accepted, in bytes; any value.
  std::size_t max_payload = 16 * 1024 * 1024;
  /// `memory` (default), or a durable level: partitions and committed offsets are kept under
  /// the broker's `data_dir` (see durability.hpp for what each level survives).
  Durability durability = Durability::memory;
  /// Durable topics: segment size, space reservation and group commit of every partition's
  /// log; zero fields take `BrokerOptions::storage`'s (switchyard/storage_options.hpp).
  StorageOptions storage{};
  /// Idempotent sends: how long a send's `dedup_id` is remembered (as a queue's
  /// `dedup_window`; SQS FIFO: 5 minutes). A send whose id was seen within it is not appended
  /// again: it is acknowledged with the first send's receipt (id, partition, offset) and
  /// `duplicate` set — Kafka's idempotent producer, by a producer-supplied id. A durable topic
  /// remembers the ids across a restart for the rest of their window (they are stored in their
  /// records; one that retention or compaction removed is forgotten). 0 to Duration::max().
  Duration dedup_window = std::chrono::minutes(5);
  /// `delete_records` (retention only), `compact` or `compact_delete`: see `Cleanup`.
  Cleanup cleanup = Cleanup::delete_records;
  /// Compacted topics: how long a tombstone stays readable after its append before compaction
  /// removes it (Kafka's `delete.retention.ms`, default one day); 0 to Duration::max().
  Duration delete_retention = std::chrono::hours(24);
  /// Where the topic lives: null, in this process; a transport (`switchyard::kafka::connect`,
  /// switchyard/transport.hpp), on it — sends go there, group members join its groups. What
  /// the transport cannot carry of these options is `invalid_argument` at declare.
  std::shared_ptr<Transport> transport{};
  friend bool operator==(const TopicOptions&, const TopicOptions&) = default;
};

/// One partition's log, as a snapshot.
struct PartitionStats {
  std::uint32_t partition = 0;
  std::uint64_t start_offset = 0;    ///< oldest retained record (= end_offset when empty)
  std::uint64_t end_offset = 0;      ///< offset the next record will get (the log end)
  std::uint64_t appended = 0;        ///< records ever appended (= end_offset)
  std::uint64_t bytes = 0;           ///< key + payload bytes retained now
  std::uint64_t appended_bytes = 0;  ///< key + payload bytes ever appended
  /// Records compaction removed from this partition (0 unless the topic is compacted).
  std::uint64_t compacted_away = 0;
};

/// One consumer group's progress on one partition.
struct GroupPartitionStats {
  std::uint32_t partition = 0;
  /// Next offset the group will read after a restart/rebalance. Every commit of a durable
  /// topic stores every position it names (0 included). A group restored from a durable
  /// topic's checkpoint shows a partition it never committed at the log start until a member
  /// joins, whose `start` then places it (Kafka's auto.offset.reset).
  std::uint64_t committed = 0;
  std::uint64_t lag = 0;        ///< log end − committed
  std::uint64_t missed = 0;     ///< records retention removed before the group read them
  bool assigned = false;        ///< owned by a member now
};

struct GroupStats {
  std::string name;
  std::size_t members = 0;
  std::uint64_t lag = 0;     ///< sum over partitions
  std::uint64_t missed = 0;  ///< sum over partitions
  std::vector<GroupPartitionStats> partitions;
};

/// A snapshot of a topic. Each counter is exact; the snapshot as a whole is not atomic.
struct TopicStats {
  std::string name;
  std::uint64_t appended = 0;        ///< records appended, all partitions
  std::uint64_t appended_bytes = 0;  ///< key + payload bytes appended, all partitions
  std::uint64_t retained = 0;        ///< records in the logs now
  std::uint64_t bytes = 0;           ///< key + payload bytes in the logs now
  std::uint64_t missed = 0;          ///< records missed, all groups
  std::uint64_t fanned_out = 0;      ///< copies accepted by subscribed queues
  std::uint64_t deduplicated = 0;    ///< sends not appended: their dedup_id was seen
  /// Copies a subscribed queue refused (full under `Overflow::reject` or after its
  /// `send_timeout` under `Overflow::block`, closed, payload too large). The topic append
  /// itself succeeded; the copy is lost for that queue only, and counted here.
  std::uint64_t fan_out_failed = 0;
  std::size_t subscriptions = 0;
  // What recovery found when a durable topic was opened, all partitions (0 in memory); the
  // details, with file and offset, are in `Broker::recovery_report()`.
  std::uint64_t recovered = 0;                  ///< records found in the partition logs
  std::uint64_t recovery_truncated_bytes = 0;   ///< torn-tail bytes truncated
  std::uint64_t recovery_removed_segments = 0;  ///< half-created segments removed
  std::uint64_t recovery_skipped_regions = 0;   ///< damaged regions skipped (salvage)
  std::uint64_t recovery_skipped_bytes = 0;     ///< bytes in those regions
  std::uint64_t compactions = 0;     ///< compaction passes that removed records (all partitions)
  std::uint64_t compacted_away = 0;  ///< records compaction removed (all partitions)
  std::vector<PartitionStats> partitions;
  std::vector<GroupStats> groups;  ///< by group name
};

/// A handle to a declared topic. Cheap to copy; stays valid (and reports `closed`) after the
/// topic is deleted. Thread-safe.
class SWITCHYARD_EXPORT Topic {
 public:
  Topic() = default;

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const TopicOptions& options() const noexcept;
  [[nodiscard]] std::uint32_t partitions() const noexcept;
  /// Applies retention by age first, so the offsets are those a poll would see now.
  [[nodiscard]] TopicStats stats() const;
  /// The statistics of one group; nullopt for a group that never had a member.
  [[nodiscard]] std::optional<GroupStats> group_stats(std::string_view group) const;
  /// The partition a record with this key goes to (Kafka's default partitioner).
  [[nodiscard]] std::uint32_t partition_for(std::string_view key) const noexcept;
  [[nodiscard]] bool closed() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit Topic(std::shared_ptr<detail::TopicBase> state) noexcept : state_(std::move(state)) {}

  // A topic of this process (detail::TopicState) or of a transport (detail::RemoteTopic).
  std::shared_ptr<detail::TopicBase> state_;
};

}  // namespace switchyard
