// src/transport/kafka/kafka_topic.hpp — a topic that lives on a Kafka cluster: the producer
// side of a remote topic (transport/remote_topic.hpp), and the factory of its group members.
//
// Data structures
// ---------------
//   producer_      one librdkafka producer (idempotent, acks=all), made at declare; topic_ its
//                  rd_kafka_topic_t for this topic.
//   Pending        one per send that has an `on_complete`, on the heap, its pointer the
//                  record's opaque: the callback and the byte count. Freed by the delivery
//                  report (exactly one per produced record; librdkafka guarantees it, purges
//                  included).
//   counters_      produced / delivered / failed / bytes in flight / retried / rebalances /
//                  errors, relaxed atomics (counts, not synchronisation); connection_ the last
//                  ConnectionState an event said.
//   status_mutex_  guards last_error_ and lags_ (each member's lag per partition, published
//                  by the member's own polls; erased when it closes).
//
// Threads
// -------
//   * `accept` / `accept_fields`: any thread; `rd_kafka_producev` is thread-safe. A full
//     buffer under Overflow::block waits on room_ (a CondVar under room_mutex_), which the
//     delivery thread notifies after a poll that delivered something while someone waits
//     (waiters_: acquire/release pair so a delivery that sees 0 cannot miss a waiter that
//     registered before re-trying its produce under the mutex).
//   * delivery_thread_: loops `rd_kafka_poll(producer_, 100 ms)` until close; the delivery
//     reports (and so every `on_complete`) run there. `close` stops it, then flushes on the
//     closing thread (the reports of the flush run there), then purges what a `stop` left.
//   * librdkafka's error and statistics callbacks (`client_error`, `on_statistics`) run on the
//     delivery thread (producer) or inside a member's poll (consumer).
//   * The rest (stats, join) on any thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "route/hooks.hpp"
#include "sync/mutex.hpp"
#include "transport/kafka/kafka_transport.hpp"
#include "transport/remote_topic.hpp"
#include "util/message_fields.hpp"

namespace switchyard::detail::kafka {

class KafkaTopic final : public RemoteTopic, public std::enable_shared_from_this<KafkaTopic> {
 public:
  /// Makes the producer, finds the topic on the cluster (creating it with `options.partitions`
  /// when it does not exist) and starts the delivery thread. Throws `Error`: `option_mismatch`
  /// (the cluster's topic has another partition count), `invalid_argument` (an option Kafka
  /// cannot carry), `timed_out` (no broker answered within `request_timeout`).
  KafkaTopic(std::shared_ptr<const KafkaTransport> transport, std::string name,
             TopicOptions options, std::shared_ptr<Clock> clock,
             std::shared_ptr<const Hooks> hooks);
  ~KafkaTopic() override;

  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] const TopicOptions& options() const noexcept override { return options_; }
  [[nodiscard]] std::uint32_t partitions() const noexcept override { return options_.partitions; }
  [[nodiscard]] TopicStats stats() const override;
  [[nodiscard]] std::optional<GroupStats> group_stats(std::string_view group) const override;
  [[nodiscard]] RemoteTopicStats remote_stats() const override;
  [[nodiscard]] bool closed_for_send() const noexcept override {
    return send_closed_.load(std::memory_order_acquire);
  }

  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  std::optional<Result<SendReceipt>> accept_fields(const MessageFields& fields,
                                                   const SendOptions& options) noexcept override;
  void close(bool drain) noexcept override;
  /// Nothing buffered or in flight.
  [[nodiscard]] bool idle() const noexcept override;

  [[nodiscard]] const Transport& transport() const noexcept override { return *transport_; }
  [[nodiscard]] std::shared_ptr<GroupMember> join(std::string_view group,
                                                  GroupConsumerOptions options) override;
  [[nodiscard]] bool has_members() const noexcept override {
    return members_.load(std::memory_order_relaxed) != 0;
  }

  // For the members (kafka_member.cpp).
  [[nodiscard]] const switchyard::kafka::KafkaOptions& kafka_options() const noexcept {
    return transport_->options();
  }
  [[nodiscard]] const Hooks& hooks() const noexcept { return *hooks_; }
  [[nodiscard]] const std::shared_ptr<Clock>& clock() const noexcept { return clock_; }
  void member_left(const void* member) noexcept;
  /// A rebalance event of a member (an assignment or a revocation).
  void rebalanced() noexcept { rebalances_.fetch_add(1, std::memory_order_relaxed); }
  /// An error a client (`client`: "producer" or a group's name) reported outside any send:
  /// counted, kept as `last_error`, logged; `_ALL_BROKERS_DOWN` marks the connection down.
  void client_error(std::string_view client, int err, const char* reason) noexcept;
  /// A member's lag per partition (partition, lag), replacing what it published before.
  void publish_lag(const void* member, const std::string& group,
                   std::vector<std::pair<std::uint32_t, std::uint64_t>> lag) noexcept;
  /// librdkafka's error callback, for the producer and the members (opaque: the KafkaTopic of
  /// the producer; members forward theirs).
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  [[nodiscard]] bool closed_for_receive() const noexcept {
    return receive_closed_.load(std::memory_order_acquire);
  }

 private:
  struct Pending;
  Result<SendReceipt> produce(const MessageFields& fields, const SendOptions& options) noexcept;
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  void delivered(const rd_kafka_message_t& message) noexcept;
  void delivery_loop() noexcept;
  static int on_statistics(rd_kafka_t* rk, char* json, std::size_t json_len, void* opaque);
  void statistics(std::string_view json) noexcept;
  /// Waits for room after a full buffer, until `deadline`; false when it passed or closed.
  bool wait_for_room(std::chrono::steady_clock::time_point deadline) noexcept;
  /// Metadata: the topic's partition count, or nullopt when the cluster does not have it.
  std::optional<int> remote_partitions();
  void create_remote_topic();

  const std::shared_ptr<const KafkaTransport> transport_;
  const std::string name_;
  const TopicOptions options_;
  const std::shared_ptr<const Hooks> hooks_;
  const std::shared_ptr<Clock> clock_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* topic_ = nullptr;
  std::thread delivery_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> send_closed_{false};
  std::atomic<bool> receive_closed_{false};
  std::atomic<std::uint64_t> next_keyless_{0};
  std::atomic<std::uint64_t> produced_{0}, delivered_{0}, failed_{0}, delivered_bytes_{0};
  std::atomic<std::int64_t> in_flight_bytes_{0};
  std::atomic<std::uint64_t> members_{0};
  std::atomic<std::uint64_t> retried_{0}, rebalances_{0}, errors_{0};
  std::atomic<std::uint64_t> undelivered_{0};  // delivery reports with an error
  std::atomic<ConnectionState> connection_{ConnectionState::connecting};
  mutable Mutex status_mutex_;
  std::string last_error_ GUARDED_BY(status_mutex_);
  struct MemberLag {
    std::string group;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> lag;
  };
  std::map<const void*, MemberLag> lags_ GUARDED_BY(status_mutex_);
  Mutex room_mutex_;
  CondVar room_;
  std::atomic<int> waiters_{0};
};

}  // namespace switchyard::detail::kafka
