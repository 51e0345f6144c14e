// switchyard/detail/destination.hpp — what every named thing a producer can address shares.
#pragma once

#include <cstdint>
#include <span>
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
  /// Takes `messages` in order, as `accept` would one by one, stopping at the first refusal.
  /// Returns how many were taken, or the refusal when none was. A destination overrides this
  /// when it can take a run of messages for less than the sum (one reservation, one wake-up).
  /// `options.on_complete` is not called here (the caller reports per message). @note threadsafe
  virtual Result<std::size_t> accept_batch(std::span<Message> messages,
                                           const SendOptions& options) noexcept {
    std::size_t taken = 0;
    for (Message& message : messages) {
      auto receipt = accept(std::move(message), options);
      if (!receipt) {
        if (taken == 0) return Result<std::size_t>(receipt.failure());
        break;
      }
      ++taken;
    }
    return taken;
  }

  /// Refuses further sends; `drain` lets consumers finish what is queued, otherwise consumers
  /// are told `closed` at once. Idempotent. @note threadsafe
  virtual void close(bool drain) noexcept = 0;
  /// True when nothing is queued or in flight (what a draining shutdown waits for).
  [[nodiscard]] virtual bool idle() const noexcept = 0;
};

}  // namespace switchyard::detail
