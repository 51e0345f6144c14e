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
#include "switchyard/exchange.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/message.hpp"
#include "switchyard/producer.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/record.hpp"
#include "switchyard/topic.hpp"
#include "switchyard/transport.hpp"

namespace switchyard::detail {

struct FreedSlots;  // src/queue/queue_state.hpp

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

  /// `transport.open_topic(...)`: a topic declared on a transport (switchyard/transport.hpp).
  static std::shared_ptr<RemoteTopic> open_topic(Transport& transport, std::string_view name,
                                                 const TopicOptions& options,
                                                 std::shared_ptr<Clock> clock,
                                                 std::shared_ptr<const Hooks> hooks) {
    return transport.open_topic(name, options, std::move(clock), std::move(hooks));
  }

  /// `transport.open_queue(...)` and `transport.open_exchange(...)`: a queue or exchange
  /// declared on a transport (queue/remote_queue.hpp, route/remote_exchange.hpp).
  static std::shared_ptr<RemoteQueue> open_queue(Transport& transport, std::string_view name,
                                                 const QueueOptions& options,
                                                 std::shared_ptr<Clock> clock,
                                                 std::shared_ptr<const Hooks> hooks) {
    return transport.open_queue(name, options, std::move(clock), std::move(hooks));
  }
  static std::shared_ptr<RemoteExchange> open_exchange(Transport& transport,
                                                       std::string_view name, ExchangeType type,
                                                       const ExchangeOptions& options,
                                                       std::shared_ptr<Clock> clock,
                                                       std::shared_ptr<const Hooks> hooks) {
    return transport.open_exchange(name, type, options, std::move(clock), std::move(hooks));
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
  /// Acks `delivery` without a wake-up, its slot kept in `freed` for the caller to give back
  /// (ConsumerState::free_slots) before it wakes the owner's receivers. In delivery.cpp.
  static Status ack_into(Delivery& delivery, FreedSlots& freed) noexcept;

  /// The state behind a topic handle: a TopicState when its kind() is `topic`, a remote topic's
  /// otherwise.
  [[nodiscard]] static const std::shared_ptr<TopicBase>& state(const Topic& topic) noexcept {
    return topic.state_;
  }
  /// The state behind a queue handle, and its exclusive-owner token (null: not the owner).
  [[nodiscard]] static const std::shared_ptr<QueueState>& state(const Queue& queue) noexcept {
    return queue.state_;
  }
  /// The remote queue behind a queue handle (null for a queue of this process).
  [[nodiscard]] static const std::shared_ptr<RemoteQueue>& remote(const Queue& queue) noexcept {
    return queue.remote_;
  }
  [[nodiscard]] static const std::shared_ptr<const void>& owner(const Queue& queue) noexcept {
    return queue.owner_;
  }

  /// A producer's next message id, a message built with it, and its delivery: a send in
  /// parts, for a transaction that logs the id before the message is delivered
  /// (broker/transaction.cpp). As Producer::send's own steps.
  [[nodiscard]] static MessageId next_id(Producer& producer) noexcept { return producer.next_id(); }
  [[nodiscard]] static Result<Message> make(Producer& producer, std::string_view destination,
                                            std::span<const std::byte> payload,
                                            const SendOptions& options, MessageId id) noexcept {
    return producer.make(destination, payload, options, nullptr, nullptr, producer.send_stamp(),
                         id);
  }
  static Result<MessageId> deliver(Producer& producer, std::string_view destination,
                                   Message&& message, const SendOptions& options) noexcept {
    return producer.deliver(destination, std::move(message), options);
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
