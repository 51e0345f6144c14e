// src/util/access.hpp — the library's one way into the private plumbing of the public handles.
//
// The public headers keep what only the library may touch private — a message's body, the
// constructors that wrap library state in a handle, a delivery's settle, a poll batch's
// storage — and befriend `detail::Access`, which they only declare. It is defined here, in a
// header that is not installed, so user code cannot call that plumbing and the library reaches
// it in one place. Each member forwards to the handle's own private member and adds nothing.
//
// Threads, blocking, lifetimes: those of the member forwarded to (see each handle's header).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/delivery.hpp"
#include "switchyard/error.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/message.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/record.hpp"

namespace switchyard::detail {

class Access {
 public:
  Access() = delete;

  /// A public handle over library state, through its private constructor:
  /// `Access::make<Queue>(state)`, `Access::make<Delivery>(owner, message, slot, ...)`.
  template <class Handle, class... Args>
  [[nodiscard]] static Handle make(Args&&... args) noexcept(
      noexcept(Handle(std::forward<Args>(args)...))) {
    return Handle(std::forward<Args>(args)...);
  }

  /// The body `message` shares (null for an empty message); valid while `message` lives.
  [[nodiscard]] static const MessageBody* body(const Message& message) noexcept {
    return message.body();
  }
  /// A message owning `body`'s reference, which the caller gives up.
  static Message adopt(MessageBody* body) noexcept { return Message::adopt(body); }

  /// The consumer state `delivery` settles with (null for an empty delivery).
  [[nodiscard]] static ConsumerState* owner(const Delivery& delivery) noexcept {
    return delivery.owner_.get();
  }
  /// Settles `delivery` as `how` says. Without `wake` the caller wakes the owner's receivers
  /// once after a run of settles (ConsumerState::wake_receivers).
  static Status settle(Delivery& delivery, Settle how, std::string_view why, bool wake) noexcept {
    return delivery.settle(how, why, wake);
  }

  /// The state behind a queue handle, and its exclusive-owner token (null: not the owner).
  [[nodiscard]] static const std::shared_ptr<QueueState>& state(const Queue& queue) noexcept {
    return queue.state_;
  }
  [[nodiscard]] static const std::shared_ptr<const void>& owner(const Queue& queue) noexcept {
    return queue.owner_;
  }

  /// The records and the gaps a poll fills into `batch`.
  [[nodiscard]] static std::vector<Record>& records(PollBatch& batch) noexcept {
    return batch.records_;
  }
  [[nodiscard]] static std::vector<Missed>& missed(PollBatch& batch) noexcept {
    return batch.missed_;
  }
};

}  // namespace switchyard::detail
