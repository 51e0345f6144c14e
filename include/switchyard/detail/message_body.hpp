// switchyard/detail/message_body.hpp — the one heap block behind a Message.
//
// Layout (one block from the BlockPool, immutable after construction, shared by reference
// count; 48 bytes of fixed part, so a 64-byte payload needs a 112-byte block):
//
//   offset  0  refs (atomic u32)      |  4  payload_size (u32)
//   offset  8  key_size (u16) | 10 group_size (u16) | 12 priority (u8) | 13..15 unused
//   offset 16  id (u64)
//   offset 24  timestamp_ns (i64, wall clock)
//   offset 32  sent_ns (i64, monotonic: queue TTLs count from here)
//   offset 40  extras (MessageExtras*, null for a plain message)
//   offset 48  key bytes | group bytes | payload bytes
//
// What most messages do not carry lives in a separate `MessageExtras` allocated only when
// needed: headers, a C++ object, a delay or TTL, or the origin of a derived body (a dead letter
// shares its original's payload instead of copying it).
//
// A message that reaches several destinations (fan-out, routing) shares this block: the
// payload is never copied. Every field but `refs` is written once, before the block is
// published to another thread (by a ring's release store or a mutex), and only read afterwards.
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

#include "switchyard/detail/block_pool.hpp"
#include "switchyard/headers.hpp"

namespace switchyard::detail {

/// What a body needs to know about the C++ object it owns (one static instance per type).
struct ObjectOps {
  const std::type_info& type;
  void (*destroy)(void*) noexcept;
  /// Appends the object's bytes (its Codec), or null when the type has no codec.
  void (*encode)(const void*, std::string&);
};

struct MessageBody;

/// The rarely needed part of a message.
struct MessageExtras {
  Headers headers;
  void* object = nullptr;
  const ObjectOps* object_ops = nullptr;
  MessageBody* origin = nullptr;      // derived body: whose payload and object it shows
  std::int64_t deliver_after_ns = 0;  // monotonic; 0: at once
  std::int64_t expires_at_ns = 0;     // monotonic; 0: never
};

struct MessageBody {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t payload_size = 0;
  std::uint16_t key_size = 0;
  std::uint16_t group_size = 0;
  std::uint8_t priority = 0;
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;  // wall clock; may lag the send by a coarse clock's tick
  std::int64_t sent_ns = 0;       // monotonic; never earlier than the send (TTLs, delays)
  MessageExtras* extras = nullptr;

  [[nodiscard]] const std::byte* bytes() const noexcept {
    return reinterpret_cast<const std::byte*>(this + 1);
  }
  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(bytes()), key_size};
  }
  [[nodiscard]] std::string_view group() const noexcept {
    return {reinterpret_cast<const char*>(bytes()) + key_size, group_size};
  }
  /// The body that holds the payload bytes and object: this one, or the origin.
  [[nodiscard]] const MessageBody& content() const noexcept {
    return extras != nullptr && extras->origin != nullptr ? *extras->origin : *this;
  }
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    const MessageBody& c = content();
    return {c.bytes() + c.key_size + c.group_size, c.payload_size};
  }
  [[nodiscard]] const Headers& headers() const noexcept {
    static const Headers none;
    return extras != nullptr ? extras->headers : none;
  }
  [[nodiscard]] void* object() const noexcept {
    const MessageBody& c = content();
    return c.extras != nullptr ? c.extras->object : nullptr;
  }
  [[nodiscard]] const ObjectOps* object_ops() const noexcept {
    const MessageBody& c = content();
    return c.extras != nullptr ? c.extras->object_ops : nullptr;
  }
  [[nodiscard]] std::int64_t deliver_after_ns() const noexcept {
    return extras != nullptr ? extras->deliver_after_ns : 0;
  }
  [[nodiscard]] std::int64_t expires_at_ns() const noexcept {
    return extras != nullptr ? extras->expires_at_ns : 0;
  }
  /// The extras, created on first use (only while the body is still private to its builder).
  MessageExtras& mutable_extras() {
    if (extras == nullptr) extras = new MessageExtras();
    return *extras;
  }

  /// Allocates a body with room for the given variable parts and copies them in.
  static MessageBody* create(std::string_view key, std::string_view group,
                             std::span<const std::byte> payload) {
    const std::size_t size = sizeof(MessageBody) + key.size() + group.size() + payload.size();
    void* raw = BlockPool::instance().allocate(size);
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

  /// A body with the same id, timestamps, key, group, priority and content as `original`, and
  /// `new_headers`. Shares the original's payload (no copy).
  static MessageBody* derive(const MessageBody& original, Headers new_headers) {
    MessageBody* body = create(original.key(), original.group(), {});
    body->priority = original.priority;
    body->id = original.id;
    body->timestamp_ns = original.timestamp_ns;
    body->sent_ns = original.sent_ns;
    try {
      MessageExtras& extras = body->mutable_extras();
      extras.headers = std::move(new_headers);
      auto& content = const_cast<MessageBody&>(original.content());
      content.retain();
      extras.origin = &content;
    } catch (...) {
      body->release();
      throw;
    }
    return body;
  }

  [[nodiscard]] std::size_t allocation_size() const noexcept {
    return sizeof(MessageBody) + key_size + group_size + payload_size;
  }

  void retain() noexcept {
    // Relaxed: taking a new reference needs an existing one, which already orders us.
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    // Acq_rel: the last releaser must see every other holder's reads finished before it frees.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (extras != nullptr) {
        if (extras->object != nullptr) extras->object_ops->destroy(extras->object);
        if (extras->origin != nullptr) extras->origin->release();
        delete extras;
      }
      const std::size_t size = allocation_size();
      this->~MessageBody();
      BlockPool::instance().deallocate(static_cast<void*>(this), size);
    }
  }
};

static_assert(sizeof(MessageBody) == 48, "the fixed part is laid out as the diagram says");
static_assert(alignof(MessageBody) <= alignof(std::max_align_t),
              "the variable part follows the fixed part without extra alignment");

}  // namespace switchyard::detail
