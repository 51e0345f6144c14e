// switchyard/message.hpp — an immutable message: payload, key, headers, id, timestamp, priority.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "switchyard/clock.hpp"
#include "switchyard/codec.hpp"
#include "switchyard/detail/message_body.hpp"
#include "switchyard/error.hpp"
#include "switchyard/headers.hpp"

namespace switchyard {

namespace detail {
class Access;
}

/// Unique within one broker, increasing per producer.
using MessageId = std::uint64_t;

/// A read-only view of a message's bytes; valid while the message it came from is alive.
class Payload {
 public:
  Payload() noexcept = default;
  explicit Payload(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::string_view as_string() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  operator std::string_view() const noexcept { return as_string(); }  // NOLINT: a view of text

 private:
  std::span<const std::byte> bytes_;
};

/// A message as every receiver sees it. Immutable; copying shares it (one reference-count
/// increment), so a message routed to five queues exists once in memory.
///
/// A message carries either bytes or a C++ object (see `Message::object<T>()`); an object is
/// moved in by the producer, read-only for every receiver, and never serialised in memory.
///
/// Thread-safety: every const member may be called from any number of threads at once.
class Message {
 public:
  Message() noexcept = default;
  Message(const Message& other) noexcept : body_(other.body_) {
    if (body_ != nullptr) body_->retain();
  }
  Message(Message&& other) noexcept : body_(std::exchange(other.body_, nullptr)) {}
  Message& operator=(Message other) noexcept {
    std::swap(body_, other.body_);
    return *this;
  }
  ~Message() {
    if (body_ != nullptr) body_->release();
  }

  /// False for a default-constructed or moved-from message.
  explicit operator bool() const noexcept { return body_ != nullptr; }

  [[nodiscard]] MessageId id() const noexcept { return body_->id; }
  /// The message's timestamp: the one its producer set (`SendOptions::timestamp`, AMQP's
  /// `timestamp` property, Kafka's CreateTime), else the wall-clock time it was sent. Kept
  /// through dead-lettering, forwarding and durable storage. Delays, TTLs and retention count
  /// from the send, never from a producer-set timestamp.
  [[nodiscard]] Timestamp timestamp() const noexcept {
    const std::int64_t created = body_->created_ns();
    return Timestamp(Duration(created != 0 ? created : body_->timestamp_ns));
  }
  /// The id its producer set (`SendOptions::message_id`, AMQP's `message-id` property), or
  /// empty. Opaque to the broker (not unique, not deduplicated: that is `dedup_id`); kept
  /// through dead-lettering, forwarding and durable storage. `id()` is the broker's own.
  [[nodiscard]] std::string_view message_id() const noexcept { return body_->message_id(); }
  /// Partitioning / routing key (may be empty).
  [[nodiscard]] std::string_view key() const noexcept { return body_->key(); }
  /// Message group (SQS FIFO `MessageGroupId`); empty when ungrouped.
  [[nodiscard]] std::string_view group() const noexcept { return body_->group(); }
  [[nodiscard]] const Headers& headers() const noexcept { return body_->headers(); }
  [[nodiscard]] std::uint8_t priority() const noexcept { return body_->priority; }
  /// The payload's bytes. Empty for an object payload (see `encoded()`).
  [[nodiscard]] Payload payload() const noexcept { return Payload(body_->payload()); }

  /// Whether the message carries a C++ object rather than bytes.
  [[nodiscard]] bool has_object() const noexcept { return body_->object() != nullptr; }
  /// The carried object if it is a `T`, else null.
  template <class T>
  [[nodiscard]] const T* object_if() const noexcept {
    void* object = body_->object();
    if (object == nullptr || body_->object_ops()->type != typeid(T)) return nullptr;
    return static_cast<const T*>(object);
  }
  /// The carried object; throws `Error(Errc::wrong_type)` if it holds no `T`.
  template <class T>
  [[nodiscard]] const T& object() const {
    if (const T* p = object_if<T>()) return *p;
    throw Error(Errc::wrong_type, std::string("message ") + std::to_string(id()) +
                                      " does not carry a " + typeid(T).name());
  }
  /// A `T` from this message: a copy of the carried object, or the payload decoded by
  /// `Codec<T>` (for a message sent as bytes, or read back from a durable destination).
  template <class T>
  [[nodiscard]] Result<T> get() const {
    if (const T* p = object_if<T>()) return *p;
    if constexpr (HasCodec<T>) {
      if (!has_object()) return Codec<T>::decode(body_->payload());
    }
    return Result<T>(Errc::wrong_type, std::string("message ") + std::to_string(id()) +
                                           " cannot be read as " + typeid(T).name());
  }
  /// The payload as bytes: the byte payload itself, or the object encoded by its codec.
  /// Fails with `wrong_type` for an object whose type has no codec.
  [[nodiscard]] Result<std::string> encoded() const {
    if (!has_object()) return std::string(payload().as_string());
    const detail::ObjectOps* ops = body_->object_ops();
    if (ops->encode == nullptr) {
      return Result<std::string>(Errc::wrong_type, std::string("no Codec for ") + ops->type.name());
    }
    std::string out;
    ops->encode(body_->object(), out);
    return out;
  }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  /// The shared body (null for an empty message).
  [[nodiscard]] const detail::MessageBody* body() const noexcept { return body_; }
  /// A message owning `body`'s reference, which the caller gives up.
  static Message adopt(detail::MessageBody* body) noexcept {
    Message m;
    m.body_ = body;
    return m;
  }

  detail::MessageBody* body_ = nullptr;
};

namespace detail {

template <class T>
inline const ObjectOps& object_ops_for() noexcept {
  static const ObjectOps ops{
      typeid(T), [](void* p) noexcept { delete static_cast<T*>(p); },
      [] {
        if constexpr (HasCodec<T>) {
          return +[](const void* p, std::string& out) {
            Codec<T>::encode(*static_cast<const T*>(p), out);
          };
        } else {
          return static_cast<void (*)(const void*, std::string&)>(nullptr);
        }
      }()};
  return ops;
}

}  // namespace detail

/// A C++ object to send by ownership: `producer.send("orders", switchyard::object(Order{...}))`.
template <class T>
struct Object {
  static_assert(std::is_nothrow_move_constructible_v<T> || std::is_copy_constructible_v<T>,
                "a message object is moved (or copied) in once");
  T value;
};
namespace detail {
template <class T>
inline constexpr bool is_object_v = false;
template <class T>
inline constexpr bool is_object_v<Object<T>> = true;
}  // namespace detail
template <class T>
Object<std::decay_t<T>> object(T&& value) {
  return Object<std::decay_t<T>>{std::forward<T>(value)};
}

}  // namespace switchyard
