// switchyard/detail/destination.hpp — what every named thing a producer can address shares.
#pragma once

#include <cstdint>
#include <string>

#include "switchyard/error.hpp"
#include "switchyard/message.hpp"
#include "switchyard/send_options.hpp"

namespace switchyard::detail {

enum class DestinationKind : std::uint8_t { queue, topic, exchange };

constexpr const char* to_string(DestinationKind kind) noexcept {
  switch (kind) {
    case DestinationKind::queue: return "queue";
    case DestinationKind::topic: return "topic";
    case DestinationKind::exchange: return "exchange";
  }
  return "destination";
}

/// A queue, topic or exchange as the broker's registry and producers see it.
class Destination {
 public:
  Destination() = default;
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;
  virtual ~Destination() = default;

  [[nodiscard]] virtual DestinationKind kind() const noexcept = 0;
  [[nodiscard]] virtual const std::string& name() const noexcept = 0;

  /// Takes a message sent to this destination. `routing_key` is the message key for topics
  /// and exchanges. Blocking only as the destination's overflow policy says. @note threadsafe
  virtual Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept = 0;

  /// Refuses further sends; `drain` lets consumers finish what is queued, otherwise consumers
  /// are told `closed` at once. Idempotent. @note threadsafe
  virtual void close(bool drain) noexcept = 0;
  /// True when nothing is queued or in flight (what a draining shutdown waits for).
  [[nodiscard]] virtual bool idle() const noexcept = 0;
};

}  // namespace switchyard::detail
