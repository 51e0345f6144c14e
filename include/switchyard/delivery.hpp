// switchyard/delivery.hpp — one message handed to one consumer, until it is settled.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/message.hpp"

namespace switchyard {

namespace detail {
class Access;
class ConsumerState;
/// How a delivery is settled (defined with the consumer state, in src/).
enum class Settle : std::uint8_t;
}  // namespace detail

/// A message delivered from a queue, held by its consumer until settled: `ack()` removes it,
/// `nack()` gives it back (retried after the queue's backoff, dead-lettered after
/// `max_deliveries`), `reject()` sends it straight to the dead-letter queue.
///
/// Settling is exactly-once: the first of ack / nack / reject / the visibility timeout /
/// the consumer's close wins; every later attempt returns `Errc::stale_delivery`.
/// A Delivery dropped unsettled stays in flight until its visibility timeout or its
/// consumer's close (SQS's behaviour) — except in a push consumer's handler, where returning
/// normally acks and throwing nacks.
///
/// Move-only. The message stays readable after settling and after the consumer is gone.
/// Thread-safety: `ack`, `nack`, `reject`, `extend`, `settled` and the reads may be called from
/// any number of threads at once; of concurrent settles exactly one wins and every other returns
/// `Errc::stale_delivery`. Moving, assigning or destroying a Delivery must not overlap any other
/// call on it.
class SWITCHYARD_EXPORT Delivery {
 public:
  Delivery() noexcept = default;
  Delivery(Delivery&& other) noexcept
      : owner_(std::move(other.owner_)),
        message_(std::move(other.message_)),
        generation_(other.generation_),
        slot_(other.slot_),
        attempt_(other.attempt_),
        settled_(other.settled_.load(std::memory_order_relaxed)) {}
  Delivery& operator=(Delivery&& other) noexcept {
    owner_ = std::move(other.owner_);
    message_ = std::move(other.message_);
    generation_ = other.generation_;
    slot_ = other.slot_;
    attempt_ = other.attempt_;
    settled_.store(other.settled_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  [[nodiscard]] const Message& message() const noexcept { return message_; }
  [[nodiscard]] Payload payload() const noexcept { return message_.payload(); }
  [[nodiscard]] const Headers& headers() const noexcept { return message_.headers(); }
  [[nodiscard]] MessageId id() const noexcept { return message_.id(); }
  /// 1 on first delivery, 2 on the first redelivery, and so on.
  [[nodiscard]] std::uint32_t attempt() const noexcept { return attempt_; }
  [[nodiscard]] bool redelivered() const noexcept { return attempt_ > 1; }
  /// Whether this handle has settled its message (or holds none).
  [[nodiscard]] bool settled() const noexcept {
    return owner_ == nullptr || settled_.load(std::memory_order_relaxed);
  }
  explicit operator bool() const noexcept { return owner_ != nullptr; }

  /// Processed: the message leaves the queue for good.
  Status ack() noexcept;
  /// Not processed: back to the queue (after the backoff) if `requeue`, else dead-lettered.
  Status nack(bool requeue = true) noexcept;
  /// Dead-letters the message at once, recording `reason` in `x-death-reason`.
  Status reject(std::string_view reason = "rejected") noexcept;
  /// Restarts the visibility timeout (SQS ChangeMessageVisibility to the queue's timeout).
  Status extend() noexcept;
  /// SQS ChangeMessageVisibility: the message becomes visible again `timeout` from now (by the
  /// broker's clock) unless settled first — on any queue, one with `visibility_timeout = 0`
  /// included. 0 makes it visible now: it is taken back as an expired visibility timeout takes
  /// it (attempt + 1 on its next delivery, the queue's backoff and `max_deliveries` apply).
  /// `invalid_argument` for a negative timeout, or one that would keep it invisible past 12
  /// hours after this delivery's receive (SQS's maximum); `stale_delivery` once settled.
  Status change_visibility(Duration timeout) noexcept;

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  /// Built by the consumer that installed the message in its in-flight slot `slot`.
  Delivery(std::shared_ptr<detail::ConsumerState> owner, Message message, std::uint32_t slot,
           std::uint64_t generation, std::uint32_t attempt) noexcept
      : owner_(std::move(owner)),
        message_(std::move(message)),
        generation_(generation),
        slot_(slot),
        attempt_(attempt) {}
  /// Settles as `how` says; without `wake`, the caller wakes the owner's receivers once after a
  /// run of settles (Consumer::ack_all).
  Status settle(detail::Settle how, std::string_view why, bool wake = true) noexcept;

  std::shared_ptr<detail::ConsumerState> owner_;
  Message message_;
  std::uint64_t generation_ = 0;
  std::uint32_t slot_ = 0;
  std::uint32_t attempt_ = 0;
  /// A hint that saves the slot's CAS on a second settle through this handle; relaxed, because
  /// the slot's generation CAS (ConsumerState::settle) is what decides which settle wins.
  std::atomic<bool> settled_{false};
};

}  // namespace switchyard
