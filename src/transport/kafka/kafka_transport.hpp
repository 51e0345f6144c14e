// src/transport/kafka/kafka_transport.hpp — the `Transport` that `switchyard::kafka::connect`
// returns: a Kafka cluster's address and client options, and the factory of its topics.
//
// Holds no client itself: each remote topic has its producer, each member its consumer
// (kafka_topic.hpp, kafka_member.hpp). Immutable after construction: thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "switchyard/kafka.hpp"
#include "switchyard/transport.hpp"

namespace switchyard::detail::kafka {

class KafkaTransport final : public Transport, public std::enable_shared_from_this<KafkaTransport> {
 public:
  /// Checks `options` (throws `Error(invalid_argument)`).
  explicit KafkaTransport(switchyard::kafka::KafkaOptions options);

  [[nodiscard]] std::string_view name() const noexcept override { return "kafka"; }
  [[nodiscard]] Capabilities capabilities() const noexcept override {
    return switchyard::kafka::kKafkaCapabilities;
  }
  [[nodiscard]] const switchyard::kafka::KafkaOptions& options() const noexcept { return options_; }

 private:
  std::shared_ptr<RemoteTopic> open_topic(std::string_view name, const TopicOptions& options,
                                          std::shared_ptr<Clock> clock,
                                          std::shared_ptr<const Hooks> hooks) override;

  const switchyard::kafka::KafkaOptions options_;
};

}  // namespace switchyard::detail::kafka
