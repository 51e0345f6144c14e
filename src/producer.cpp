#include "switchyard/producer.hpp"

#include <limits>

#include "switchyard/detail/broker_core.hpp"

namespace switchyard {

namespace {
constexpr std::uint64_t kIdBlock = 4096;

std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
}  // namespace

Result<Message> Producer::make(std::string_view destination, std::span<const std::byte> payload,
                               const SendOptions& options, void* object,
                               const detail::ObjectOps* ops) noexcept {
  auto fail = [&](Errc code, std::string message) {
    if (object != nullptr) ops->destroy(object);
    return Result<Message>(code, std::move(message));
  };
  if (!core_) return fail(Errc::closed, "producer is empty (default-constructed)");
  constexpr std::size_t kMaxShort = std::numeric_limits<std::uint16_t>::max();
  if (options.key.size() > kMaxShort) return fail(Errc::invalid_argument, "key longer than 65535 bytes");
  if (options.group.size() > kMaxShort) return fail(Errc::invalid_argument, "group longer than 65535 bytes");
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    return fail(Errc::payload_too_large, "payload above 4 GiB");
  }
  if (options.delay.count() < 0 || options.ttl.count() < 0) {
    return fail(Errc::invalid_argument, "delay and ttl must not be negative");
  }
  const auto& interceptors = core_->interceptors();
  const bool with_extras = !options.headers.empty() || object != nullptr ||
                           options.delay.count() > 0 || options.ttl.count() > 0 ||
                           !interceptors.empty();
  detail::MessageBody* body = nullptr;
  try {
    body = detail::MessageBody::create(options.key, options.group, payload, with_extras);
  } catch (const std::bad_alloc&) {
    return fail(Errc::payload_too_large, "out of memory for a payload of " +
                                             std::to_string(payload.size()) + " bytes");
  }
  if (next_id_ == id_end_) {
    next_id_ = core_->reserve_ids(kIdBlock);
    id_end_ = next_id_ + kIdBlock;
  }
  const Stamp stamp = core_->clock()->stamp();
  body->id = next_id_++;
  body->timestamp_ns = stamp.wall.time_since_epoch().count();
  body->sent_ns = stamp.now.time_since_epoch().count();
  body->priority = options.priority;
  if (with_extras) {
    try {
      detail::MessageExtras& extras = body->mutable_extras();
      extras.headers = options.headers;
      for (const auto& interceptor : interceptors) {
        try {
          interceptor->on_send(destination, extras.headers);
        } catch (const std::bad_alloc&) {
          throw;
        } catch (...) {
          // Interceptors must not throw; one that does is ignored (see interceptor.hpp).
        }
      }
      extras.object = object;
      extras.object_ops = ops;
      if (options.delay.count() > 0) extras.deliver_after_ns = body->sent_ns + options.delay.count();
      if (options.ttl.count() > 0) extras.expires_at_ns = body->sent_ns + options.ttl.count();
    } catch (const std::bad_alloc&) {
      Message::adopt(body);  // frees the body
      return fail(Errc::payload_too_large, "out of memory for the message's headers");
    }
  }
  return Message::adopt(body);
}

std::shared_ptr<detail::Destination> Producer::lookup(std::string_view name) noexcept {
  const std::uint64_t generation = core_->generation();
  if (cached_ && cached_generation_ == generation && cached_name_ == name) return cached_;
  try {
    cached_ = core_->find(name);
    cached_name_.assign(name);
    cached_generation_ = generation;
  } catch (...) {
    cached_.reset();
  }
  return cached_;
}

Result<MessageId> Producer::deliver(std::string_view destination, Message&& message,
                                    const SendOptions& options) noexcept {
  auto target = lookup(destination);
  Result<SendReceipt> receipt =
      target ? target->accept(std::move(message), options)
             : Result<SendReceipt>(Errc::unknown_destination,
                                   "no destination named '" + std::string(destination) + "'");
  if (options.on_complete && !(receipt && receipt->completion_deferred)) options.on_complete(receipt);
  if (!receipt) return Result<MessageId>(receipt.failure());
  return receipt->id;
}

Result<MessageId> Producer::send(std::string_view destination, std::string_view payload,
                                 const SendOptions& options) noexcept {
  return send(destination, as_bytes(payload), options);
}

Result<MessageId> Producer::send(std::string_view destination, std::span<const std::byte> payload,
                                 const SendOptions& options) noexcept {
  auto message = make(destination, payload, options, nullptr, nullptr);
  if (!message) return Result<MessageId>(message.failure());
  return deliver(destination, std::move(*message), options);
}

Result<MessageId> Producer::forward(std::string_view destination, const Message& message,
                                    const SendOptions& options) noexcept {
  if (!core_) return Result<MessageId>(Errc::closed, "producer is empty");
  if (!message) return Result<MessageId>(Errc::invalid_argument, "empty message");
  return deliver(destination, Message(message), options);
}

Result<MessageId> Producer::publish(std::string_view exchange, std::string_view routing_key,
                                    std::string_view payload, SendOptions options) noexcept {
  options.key = routing_key;
  return send(exchange, payload, options);
}

Result<std::size_t> Producer::send_batch(std::string_view destination,
                                         std::span<const std::string_view> payloads,
                                         const SendOptions& options) noexcept {
  std::size_t accepted = 0;
  for (std::string_view payload : payloads) {
    auto sent = send(destination, payload, options);
    if (!sent) {
      if (accepted == 0) return Result<std::size_t>(sent.failure());
      break;
    }
    ++accepted;
  }
  return accepted;
}

}  // namespace switchyard
