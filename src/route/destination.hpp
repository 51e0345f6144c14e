// src/route/destination.hpp — what every named thing a producer can address shares.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "switchyard/destination.hpp"
#include "switchyard/error.hpp"
#include "switchyard/message.hpp"
#include "switchyard/send_options.hpp"
#include "util/message_fields.hpp"

namespace switchyard::detail {

/// The public kind (switchyard/destination.hpp), one enum for the library and its users.
using DestinationKind = ::switchyard::DestinationKind;

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
  /// and exchanges. Blocking only as the destination's overflow policy says. Who reports the
  /// outcome to `options.on_complete`: route/send_completion.hpp. @note threadsafe
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

  /// True for a destination that stores a copy of each message's fields at once and keeps no
  /// `Message` (a durable topic: the record is encoded into its log): a producer then offers
  /// each send to `accept_fields` first, without building a message body. Fixed for the
  /// destination's life (a plain member: read on every send).
  [[nodiscard]] bool accepts_fields() const noexcept { return accepts_fields_; }
  /// `accept` for a message that was not built: `fields` borrow the producer's arguments for
  /// this call only (the destination copies what it keeps before returning). Returns nullopt,
  /// having done nothing, when this send needs a `Message` after all (a durable topic with a
  /// subscribed queue, which shares the message): the caller then builds one with the same
  /// fields and calls `accept`. Otherwise as `accept`, including who reports the outcome.
  /// Only called where `accepts_fields()`. @note threadsafe
  virtual std::optional<Result<SendReceipt>> accept_fields(
      const MessageFields& /*fields*/, const SendOptions& /*options*/) noexcept {
    return std::nullopt;
  }
  /// True for a destination that reports its successful sends to `on_complete` itself, when
  /// they are complete (a durable one at `Durability::batch`: once synced); its caller reports
  /// the rest (route/send_completion.hpp). Fixed for the destination's life.
  [[nodiscard]] bool defers_completion() const noexcept { return defers_completion_; }
  /// Refuses further sends; `drain` lets consumers finish what is queued, otherwise consumers
  /// are told `closed` at once. Idempotent. @note threadsafe
  virtual void close(bool drain) noexcept = 0;
  /// True when nothing is queued or in flight (what a draining shutdown waits for).
  [[nodiscard]] virtual bool idle() const noexcept = 0;

 protected:
  /// Set once by a derived constructor (see accepts_fields() and defers_completion()).
  bool accepts_fields_ = false;
  bool defers_completion_ = false;
};

}  // namespace switchyard::detail
