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
//   counters_      produced / delivered / failed / bytes in flight, relaxed atomics (counts,
//                  not synchronisation).
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
//   * The rest (stats, join) on any thread.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

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
  void member_left() noexcept { members_.fetch_sub(1, std::memory_order_relaxed); }
  [[nodiscard]] bool closed_for_receive() const noexcept {
    return receive_closed_.load(std::memory_order_acquire);
  }

 private:
  struct Pending;
  Result<SendReceipt> produce(const MessageFields& fields, const SendOptions& options) noexcept;
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  void delivered(const rd_kafka_message_t& message) noexcept;
  void delivery_loop() noexcept;
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
  Mutex room_mutex_;
  CondVar room_;
  std::atomic<int> waiters_{0};
};

}  // namespace switchyard::detail::kafka
