// Delivery: one received message and the settlement of it. Design: queue_state.hpp.
#include "switchyard/delivery.hpp"

#include "queue/queue_state.hpp"

namespace switchyard {

Status Delivery::settle(detail::Settle how, std::string_view why, bool wake) noexcept {
  if (owner_ == nullptr) return Status(Errc::invalid_delivery, "empty delivery");
  // Relaxed: only a shortcut; racing settles all reach the slot's CAS, which one of them wins.
  if (settled_.load(std::memory_order_relaxed)) {
    return Status(Errc::stale_delivery, "delivery already settled by this handle");
  }
  settled_.store(true, std::memory_order_relaxed);
  return owner_->settle(slot_, generation_, how, why, wake);
}

namespace detail {
Status Access::ack_into(Delivery& delivery, FreedSlots& freed) noexcept {
  // Delivery::settle's checks, then the owner's settle keeping the slot in `freed`.
  if (delivery.owner_ == nullptr) return Status(Errc::invalid_delivery, "empty delivery");
  // Relaxed: as in Delivery::settle.
  if (delivery.settled_.load(std::memory_order_relaxed)) {
    return Status(Errc::stale_delivery, "delivery already settled by this handle");
  }
  delivery.settled_.store(true, std::memory_order_relaxed);
  return delivery.owner_->settle(delivery.slot_, delivery.generation_, Settle::ack, {},
                                 /*wake=*/false, &freed);
}
}  // namespace detail

Status Delivery::ack() noexcept {
  return settle(detail::Settle::ack, {});
}
Status Delivery::nack(bool requeue) noexcept {
  return requeue ? settle(detail::Settle::requeue, {})
                 : settle(detail::Settle::dead_letter, detail::reason::rejected);
}
Status Delivery::reject(std::string_view reason) noexcept {
  return settle(detail::Settle::dead_letter, reason);
}
Status Delivery::extend() noexcept {
  if (owner_ == nullptr) return Status(Errc::invalid_delivery, "empty delivery");
  if (settled_.load(std::memory_order_relaxed)) {
    return Status(Errc::stale_delivery, "delivery already settled by this handle");
  }
  return owner_->extend(slot_, generation_);
}

Status Delivery::change_visibility(Duration timeout) noexcept {
  if (owner_ == nullptr) return Status(Errc::invalid_delivery, "empty delivery");
  if (settled_.load(std::memory_order_relaxed)) {
    return Status(Errc::stale_delivery, "delivery already settled by this handle");
  }
  const Status changed = owner_->change_visibility(slot_, generation_, timeout);
  // A take-back (0) settles the slot: later calls through this handle are stale.
  if (changed && timeout.count() == 0) settled_.store(true, std::memory_order_relaxed);
  return changed;
}

}  // namespace switchyard
