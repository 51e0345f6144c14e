#include "switchyard/producer.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "route/destination.hpp"
#include "route/registry.hpp"
#include "route/send_completion.hpp"
#include "switchyard/detail/deadline.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace {
constexpr std::uint64_t kIdBlock = 4096;

std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// The monotonic deadline `after` a send at `sent_ns` (a delay, a TTL); 0 for none.
std::int64_t deadline_of(std::int64_t sent_ns, Duration after) noexcept {
  return after.count() > 0 ? detail::deadline_ns(sent_ns, after.count()) : 0;
}
/// The producer-set timestamp of a send, wall ns; 0 for none.
std::int64_t created_of(const SendOptions& options) noexcept {
  return options.timestamp ? options.timestamp->time_since_epoch().count() : 0;
}
}  // namespace

Stamp Producer::send_stamp() const noexcept {
  // The coarse clock: a precise read would cost more than the rest of a send. The timestamp
  // may lag by a tick; sent_ns gets the tick added (in make), so it is never earlier than the
  // send and the TTLs and delays that count from it never end early.
  if (!core_) return {};
  const Clock& clock = *core_->clock();
  Stamp stamp = clock.coarse_stamp();
  stamp.now += clock.coarse_resolution();
  return stamp;
}

Failure Producer::refusal(std::span<const std::byte> payload, const SendOptions& options) {
  constexpr std::size_t kMaxShort = std::numeric_limits<std::uint16_t>::max();
  if (options.key.size() > kMaxShort)
    return {Errc::invalid_argument, "key longer than 65535 bytes"};
  if (options.group.size() > kMaxShort) {
    return {Errc::invalid_argument, "group longer than 65535 bytes"};
  }
  if (options.message_id.size() > kMaxShort) {
    return {Errc::invalid_argument, "message_id longer than 65535 bytes"};
  }
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    return {Errc::payload_too_large, "payload above 4 GiB"};
  }
  return {Errc::invalid_argument, "delay and ttl must not be negative"};
}

Failure Producer::id_refusal() const noexcept try {
  return core_->id_failure();
} catch (const std::bad_alloc&) {
  return {Errc::out_of_memory, {}};
}

MessageId Producer::next_id_block() noexcept {
  ids_.next = core_->reserve_ids(kIdBlock);
  if (ids_.next == 0) return ids_.end = 0;  // not recorded: make / send refuse id 0
  ids_.end = ids_.next + kIdBlock;
  return ids_.next++;
}

Result<Message> Producer::make(std::string_view destination, std::span<const std::byte> payload,
                               const SendOptions& options, void* object,
                               const detail::ObjectOps* ops, const Stamp& stamp,
                               MessageId id) noexcept {
  auto fail = [&](Failure failure) {
    if (object != nullptr) ops->destroy(object);
    return Result<Message>(std::move(failure));
  };
  if (!core_) return fail(Failure{Errc::closed, "producer is empty (default-constructed)"});
  if (id == 0) return fail(id_refusal());
  if (!valid(payload, options)) return fail(refusal(payload, options));
  const auto& interceptors = core_->interceptors();
  const bool with_extras = !options.headers.empty() || object != nullptr ||
                           options.delay.count() > 0 || options.ttl.count() > 0 ||
                           !interceptors.empty() || !options.message_id.empty() ||
                           options.timestamp.has_value();
  detail::MessageBody* body = nullptr;
  try {
    body = detail::MessageBody::create(options.key, options.group, payload, with_extras);
  } catch (const std::bad_alloc&) {
    return fail(Failure{Errc::out_of_memory, {}});
  }
  body->id = id;
  body->timestamp_ns = stamp.wall.time_since_epoch().count();
  body->sent_ns = stamp.now.time_since_epoch().count();
  body->priority = options.priority;
  if (with_extras) {
    try {
      detail::MessageExtras& extras = body->mutable_extras();
      extras.headers = options.headers;
      // Interceptors must not throw; one that does is logged and ignored (interceptor.hpp).
      auto guarded = [&](const char* hook, auto&& call) {
        try {
          call();
        } catch (const std::bad_alloc&) {
          throw;
        } catch (const std::exception& e) {
          core_->hooks()->interceptor_failed(hook, e.what());
        } catch (...) {
          core_->hooks()->interceptor_failed(hook, "an exception not derived from std::exception");
        }
      };
      for (const auto& interceptor : interceptors) {
        guarded("on_send", [&] { interceptor->on_send(destination, extras.headers); });
      }
      if (Failure refused = core_->hooks()->refused(destination, extras.headers);
          refused.code != Errc::ok) {
        detail::Access::adopt(body);  // frees the body (no object in it yet)
        return fail(std::move(refused));
      }
      extras.object = object;
      extras.object_ops = ops;
      extras.deliver_after_ns = deadline_of(body->sent_ns, options.delay);
      extras.expires_at_ns = deadline_of(body->sent_ns, options.ttl);
      extras.created_ns = created_of(options);
      extras.message_id = options.message_id;
    } catch (const std::bad_alloc&) {
      detail::Access::adopt(body);  // frees the body
      return fail(Failure{Errc::out_of_memory, {}});
    }
  }
  return detail::Access::adopt(body);
}

detail::Destination* Producer::lookup(std::string_view name) noexcept {
  const std::uint64_t generation = core_->generation();
  if (cached_ && cached_generation_ == generation && cached_name_ == name) return cached_.get();
  try {
    cached_ = core_->find(name);
    cached_name_.assign(name);
    cached_generation_ = generation;
  } catch (...) {
    cached_.reset();
  }
  return cached_.get();
}

Result<MessageId> Producer::deliver(std::string_view destination, Message&& message,
                                    const SendOptions& options) noexcept {
  return deliver_to(lookup(destination), destination, std::move(message), options);
}

Result<MessageId> Producer::deliver_to(detail::Destination* target, std::string_view destination,
                                       Message&& message, const SendOptions& options) noexcept {
  Result<SendReceipt> receipt =
      target ? target->accept(std::move(message), options)
             : Result<SendReceipt>(Errc::unknown_destination,
                                   "no destination named '" + std::string(destination) + "'");
  detail::report_send(target, options, receipt);
  if (!receipt) return Result<MessageId>(receipt.failure());
  return receipt->id;
}

Result<MessageId> Producer::send(std::string_view destination, std::string_view payload,
                                 const SendOptions& options) noexcept {
  return send(destination, as_bytes(payload), options);
}

Result<MessageId> Producer::send(std::string_view destination, std::span<const std::byte> payload,
                                 const SendOptions& options) noexcept {
  if (!core_) return Result<MessageId>(Errc::closed, "producer is empty (default-constructed)");
  const Stamp stamp = send_stamp();
  const MessageId id = next_id();
  if (id == 0) return Result<MessageId>(id_refusal());
  detail::Destination* target = lookup(destination);
  if (target != nullptr && target->accepts_fields() && core_->interceptors().empty()) {
    // A durable topic encodes the record straight from these arguments into its log: no
    // message body, no copy of the payload but the one into the segment.
    if (!valid(payload, options)) return Result<MessageId>(refusal(payload, options));
    const std::int64_t sent_ns = stamp.now.time_since_epoch().count();
    const detail::MessageFields fields{
        .id = id,
        .timestamp_ns = stamp.wall.time_since_epoch().count(),
        .sent_ns = sent_ns,
        .priority = options.priority,
        .key = options.key,
        .group = options.group,
        .headers = std::span(options.headers.begin(), options.headers.end()),
        .payload = payload,
        .deliver_after_ns = deadline_of(sent_ns, options.delay),
        .expires_at_ns = deadline_of(sent_ns, options.ttl),
        .created_ns = created_of(options),
        .message_id = options.message_id,
        .dedup_id = {},  // the destination stores it with the window it knows
        .dedup_until_ns = 0};
    if (auto receipt = target->accept_fields(fields, options)) {
      detail::report_send(target, options, *receipt);
      if (!*receipt) return Result<MessageId>(receipt->failure());
      return (*receipt)->id;
    }
    // It needs a Message after all (a subscribed queue shares it): the usual path, same id.
  }
  auto message = make(destination, payload, options, nullptr, nullptr, stamp, id);
  if (!message) return Result<MessageId>(message.failure());
  return deliver_to(target, destination, std::move(*message), options);
}

Result<MessageId> Producer::forward(std::string_view destination, const Message& message,
                                    const SendOptions& options) noexcept {
  if (!core_) return Result<MessageId>(Errc::closed, "producer is empty");
  if (!message) return Result<MessageId>(Errc::invalid_argument, "empty message");
  if (core_->hooks()->intercepting()) [[unlikely]] {
    if (Failure refused = core_->hooks()->refused(destination, message.headers());
        refused.code != Errc::ok) {
      return Result<MessageId>(std::move(refused));
    }
  }
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
  auto fail = [&](Failure failure) {
    return accepted == 0 ? Result<std::size_t>(std::move(failure)) : Result<std::size_t>(accepted);
  };
  if (options.on_complete || !options.dedup_id.empty()) {
    // Per-message receipts (or a dedup id that only the first may use): one at a time.
    for (std::string_view payload : payloads) {
      auto sent = send(destination, payload, options);
      if (!sent) return fail(sent.failure());
      ++accepted;
    }
    return accepted;
  }
  if (!core_) return Result<std::size_t>(Errc::closed, "producer is empty (default-constructed)");
  detail::Destination* target = lookup(destination);
  if (target == nullptr) {
    return Result<std::size_t>(Errc::unknown_destination,
                               "no destination named '" + std::string(destination) + "'");
  }
  // Runs of up to kRun messages, each handed over in one accept_batch; one stamp for all.
  constexpr std::size_t kRun = 64;
  std::array<Message, kRun> run;
  const Stamp stamp = send_stamp();
  while (accepted < payloads.size()) {
    const std::size_t n = std::min(kRun, payloads.size() - accepted);
    std::size_t made = 0;
    Failure refused;
    for (; made < n; ++made) {
      auto message = make(destination, as_bytes(payloads[accepted + made]), options, nullptr,
                          nullptr, stamp, next_id());
      if (!message) {
        refused = message.failure();
        break;
      }
      run[made] = std::move(*message);
    }
    if (made != 0) {
      auto taken = target->accept_batch(std::span<Message>(run.data(), made), options);
      for (std::size_t i = 0; i < made; ++i) run[i] = Message();  // refused ones are dropped
      if (!taken) return fail(taken.failure());
      accepted += *taken;
      if (*taken < made) return accepted;
    }
    if (refused.code != Errc::ok) return fail(std::move(refused));
  }
  return accepted;
}

}  // namespace switchyard
