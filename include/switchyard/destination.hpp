// switchyard/destination.hpp — what a broker's one namespace of names holds: each destination's
// name and kind (`Broker::destinations()`).
#pragma once

#include <cstdint>
#include <string>

namespace switchyard {

/// The kinds of destination a producer can address by name (RabbitMQ's queues and exchanges,
/// Kafka's topics); they share one namespace per broker. The `remote_` kinds live on a
/// transport (switchyard/transport.hpp): a topic on a Kafka cluster (`TopicOptions::
/// transport`), a queue or an exchange on a RabbitMQ server (`QueueOptions::transport`,
/// `ExchangeOptions::transport`).
enum class DestinationKind : std::uint8_t {
  queue,
  topic,
  exchange,
  remote_topic,
  remote_queue,
  remote_exchange
};

/// "queue", "topic", "exchange", "remote topic", "remote queue" or "remote exchange".
constexpr const char* to_string(DestinationKind kind) noexcept {
  switch (kind) {
    case DestinationKind::queue:
      return "queue";
    case DestinationKind::topic:
      return "topic";
    case DestinationKind::exchange:
      return "exchange";
    case DestinationKind::remote_topic:
      return "remote topic";
    case DestinationKind::remote_queue:
      return "remote queue";
    case DestinationKind::remote_exchange:
      return "remote exchange";
  }
  return "destination";
}

/// One declared destination, as `Broker::destinations()` lists it.
struct DestinationInfo {
  std::string name;
  DestinationKind kind = DestinationKind::queue;
  friend bool operator==(const DestinationInfo&, const DestinationInfo&) = default;
};

}  // namespace switchyard
