// switchyard/destination.hpp — what a broker's one namespace of names holds: each destination's
// name and kind (`Broker::destinations()`).
#pragma once

#include <cstdint>
#include <string>

namespace switchyard {

/// The kinds of destination a producer can address by name (RabbitMQ's queues and exchanges,
/// Kafka's topics); they share one namespace per broker. `remote_topic`: a topic that lives on
/// a transport (`TopicOptions::transport`, switchyard/transport.hpp), such as a Kafka cluster.
enum class DestinationKind : std::uint8_t { queue, topic, exchange, remote_topic };

/// "queue", "topic", "exchange" or "remote topic".
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
