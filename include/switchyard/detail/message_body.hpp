// switchyard/detail/message_body.hpp — the one heap block behind a Message.
//
// Layout (one allocation, immutable after construction, shared by reference count):
//
//   +-------------------------------+  MessageBody (fixed part)
//   | refs | payload_size | key_size | group_size | priority
//   | id | timestamp_ns | deliver_after_ns | expires_at_ns
//   | headers (shared) | object, object_ops (typed payload or null)
//   +-------------------------------+  bytes(): key bytes, group bytes, payload bytes
//   | key ... | group ... | payload ... |
//   +-------------------------------+
//
// A message that reaches several destinations (fan-out, routing, dead-lettering's original)
// shares this block: the payload is never copied. Every field but `refs` is written once,
// before the block is published to any other thread (by a ring's release store or a mutex),
// and only read afterwards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>

#include "switchyard/headers.hpp"

namespace switchyard::detail {

/// What a body needs to know about the C++ object it owns (one static instance per type).
struct ObjectOps {
  const std::type_info& type;
  void (*destroy)(void*) noexcept;
  /// Appends the object's bytes (its Codec), or null when the type has no codec.
  void (*encode)(const void*, std::string&);
};

struct MessageBody {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t payload_size = 0;
  std::uint16_t key_size = 0;
  std::uint16_t group_size = 0;
  std::uint8_t priority = 0;
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;      // wall clock
  std::int64_t deliver_after_ns = 0;  // monotonic; 0: at once
  std::int64_t expires_at_ns = 0;     // monotonic; 0: never
  Headers headers;
  void* object = nullptr;
  const ObjectOps* object_ops = nullptr;
  // A derived body (a dead letter: new headers, same content) holds a reference to the body
  // whose payload and object it shows, instead of a copy.
  MessageBody* origin = nullptr;

  /// The body that holds the payload bytes and object: this one, or the origin.
  [[nodiscard]] const MessageBody& content() const noexcept {
    return origin != nullptr ? *origin : *this;
  }

  [[nodiscard]] const std::byte* bytes() const noexcept {
    return reinterpret_cast<const std::byte*>(this + 1);
  }
  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(bytes()), key_size};
  }
  [[nodiscard]] std::string_view group() const noexcept {
    return {reinterpret_cast<const char*>(bytes()) + key_size, group_size};
  }
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    const MessageBody& c = content();
    return {c.bytes() + c.key_size + c.group_size, c.payload_size};
  }

  /// Allocates a body with room for the given variable parts and copies them in.
  static MessageBody* create(std::string_view key, std::string_view group,
                             std::span<const std::byte> payload) {
    const std::size_t size = sizeof(MessageBody) + key.size() + group.size() + payload.size();
    void* raw = ::operator new(size);
    auto* body = new (raw) MessageBody();
    body->key_size = static_cast<std::uint16_t>(key.size());
    body->group_size = static_cast<std::uint16_t>(group.size());
    body->payload_size = static_cast<std::uint32_t>(payload.size());
    auto* out = reinterpret_cast<char*>(body + 1);
    if (!key.empty()) std::memcpy(out, key.data(), key.size());
    if (!group.empty()) std::memcpy(out + key.size(), group.data(), group.size());
    if (!payload.empty()) std::memcpy(out + key.size() + group.size(), payload.data(), payload.size());
    return body;
  }

  /// A body with the same id, timestamp, key, group, priority and content as `original`, and
  /// `new_headers`. Shares the original's payload (no copy).
  static MessageBody* derive(const MessageBody& original, Headers new_headers) {
    MessageBody* body = create(original.key(), original.group(), {});
    body->priority = original.priority;
    body->id = original.id;
    body->timestamp_ns = original.timestamp_ns;
    body->headers = std::move(new_headers);
    auto& content = const_cast<MessageBody&>(original.content());
    content.retain();
    body->origin = &content;
    return body;
  }

  void retain() noexcept {
    // Relaxed: taking a new reference needs an existing one, which already orders us.
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    // Acq_rel: the last releaser must see every other holder's reads finished before it frees.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (object != nullptr) object_ops->destroy(object);
      if (origin != nullptr) origin->release();
      this->~MessageBody();
      ::operator delete(static_cast<void*>(this));
    }
  }
};

static_assert(alignof(MessageBody) <= alignof(std::max_align_t),
              "the variable part follows the fixed part without extra alignment");

}  // namespace switchyard::detail
