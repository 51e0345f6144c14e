// src/transport/kafka/kafka_member.hpp — a GroupConsumer over a Kafka consumer group: one
// librdkafka consumer per member (group.id = the group's name).
//
// Data structures (only the member's thread touches them, like GroupConsumerState's)
//   consumer_     the librdkafka consumer, subscribed to the one topic; queue_ its consumer
//                 queue (for `wakeup`: rd_kafka_queue_yield).
//   assignment_   the partitions the last rebalance gave this member, ascending.
//   position_[p]  next offset to read, -1 until a poll returned a record of p or a seek set it
//                 (then `position` asks librdkafka, or the committed offset).
//   dirty_        positions moved since the last commit (auto-commit's "something to do").
//
// Threads: as kafka.hpp says — `poll` runs rd_kafka_consumer_poll on the calling thread, and
// the rebalance callback (`rebalanced`) runs inside it, there; `wakeup` from any thread.
//
// Interceptors' `on_commit` (a test's Recorder) hear what the cluster confirmed: a synchronous
// commit once it returned, an auto-commit (asynchronous) when its result comes back on queue_,
// served by a later poll on the member's thread — or by the close, which commits synchronously.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "topic/group_member.hpp"
#include "transport/kafka/kafka_topic.hpp"

namespace switchyard::detail::kafka {

class KafkaMember final : public GroupMember {
 public:
  /// Makes the consumer and subscribes it. Throws `Error(invalid_argument)` for a `start`
  /// Kafka cannot carry (`Start::offset`, `Start::timestamp`) or a client librdkafka refused.
  KafkaMember(std::shared_ptr<KafkaTopic> topic, std::string group, GroupConsumerOptions options);
  ~KafkaMember() override;

  Result<PollBatch> poll(std::size_t max, Duration timeout) noexcept override;
  Status poll(PollBatch& batch, std::size_t max, Duration timeout) noexcept override;
  Status commit() noexcept override;
  Status commit(std::uint32_t partition, std::uint64_t offset) noexcept override;
  Status seek(std::uint32_t partition, std::uint64_t offset) noexcept override;
  Status set_paused(std::uint32_t partition, bool paused) noexcept override;
  [[nodiscard]] std::vector<std::uint32_t> assignment() const override { return assignment_; }
  [[nodiscard]] Result<std::uint64_t> position(std::uint32_t partition) const noexcept override;
  [[nodiscard]] Result<std::uint64_t> lag(std::uint32_t partition) const noexcept override;
  [[nodiscard]] Result<std::uint64_t> committed(std::uint32_t partition) const noexcept override;
  void wakeup() noexcept override;
  void close() noexcept override;
  Result<int> ready_fd() noexcept override;
  [[nodiscard]] const Clock& clock() const noexcept override { return *topic_->clock(); }
  [[nodiscard]] const std::string& topic_name() const noexcept override { return topic_->name(); }
  [[nodiscard]] const std::string& group_name() const noexcept override { return group_; }

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void rebalanced(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) noexcept;
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  /// An asynchronous commit's result (rd_kafka_commit_queue on queue_).
  static void on_committed(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* offsets, void* opaque);
  /// `on_commit` of the interceptors for every partition of `offsets` the cluster took.
  void report_commits(const rd_kafka_topic_partition_list_t& offsets) const noexcept;
  /// Publishes this member's lag per partition to the topic's stats (cached watermarks, no
  /// request), at most every 100 ms.
  void publish_lag() noexcept;
  Status check_owned(std::uint32_t partition) const;
  /// `offset` is at most the partition's log end (asked of the cluster); `what` names the
  /// caller in the failure. May throw std::bad_alloc (callers catch it).
  Status check_within_log(std::uint32_t partition, std::uint64_t offset,
                          std::string_view what) const;
  /// Commits the positions of `partitions` (all owned, if empty) that polls moved.
  Status commit_positions(const std::vector<std::uint32_t>& partitions, bool async) noexcept;
  void auto_commit() noexcept;
  /// The partition's committed offset on the cluster, or -1 (none).
  [[nodiscard]] Result<std::int64_t> committed_raw(std::uint32_t partition) const noexcept;
  [[nodiscard]] bool closed() const noexcept;

  const std::shared_ptr<KafkaTopic> topic_;
  const std::string group_;
  const GroupConsumerOptions options_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  std::vector<std::uint32_t> assignment_;
  std::vector<std::int64_t> position_;
  std::vector<bool> moved_;  // position_[p] moved since p was last committed
  bool dirty_ = false;
  bool closing_ = false;
  std::chrono::steady_clock::time_point lag_published_{};
  std::atomic<bool> closed_{false};
};

}  // namespace switchyard::detail::kafka
