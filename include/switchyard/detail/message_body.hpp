// switchyard/detail/message_body.hpp — the one heap block behind a Message.
//
// Layout (one block from the BlockPool, immutable after construction, shared by reference
// count; 40 bytes of fixed part, so a plain 64-byte payload needs a 104-byte block):
//
//   [MessageExtras, only when flags & kHasExtras] [fixed part] [key | group | payload]
//
//   fixed part (MessageBody; `this` points here, extras or not)
//   offset  0  refs (atomic u32)      |  4  payload_size (u32)
//   offset  8  key_size (u16) | 10 group_size (u16) | 12 priority (u8) | 13 flags (u8)
//              | 14..15 unused
//   offset 16  id (u64)
//   offset 24  timestamp_ns (i64, wall clock)
//   offset 32  sent_ns (i64, monotonic: queue TTLs count from here)
//   offset 40  key bytes | group bytes | payload bytes
//
// What most messages do not carry lives in a `MessageExtras` placed in the same block, just in
// front of the fixed part, and only in the bodies that need it: headers, a C++ object, a delay
// or TTL, or the origin of a derived body (a dead letter shares its original's payload instead
// of copying it). Whoever creates a body knows whether it needs extras, so `create` is told;
// a plain message pays neither the bytes nor a pointer for them.
//
// A message that reaches several destinations (fan-out, routing) shares this block: the
// payload is never copied. Every field but `refs` is written once, before the block is
// published to another thread (by a ring's release store or a mutex), and only read afterwards.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
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
  std::int64_t created_ns = 0;        // producer-set timestamp (wall ns); 0: none
  std::string message_id;             // producer-set message id (AMQP message-id); empty: none
};

struct MessageBody {
  /// `flags` bit: a MessageExtras sits just in front of the fixed part.
  static constexpr std::uint8_t kHasExtras = 1;

  std::atomic<std::uint32_t> refs{1};
  std::uint32_t payload_size = 0;
  std::uint16_t key_size = 0;
  std::uint16_t group_size = 0;
  std::uint8_t priority = 0;
  std::uint8_t flags = 0;
  std::uint64_t id = 0;
  std::int64_t timestamp_ns = 0;  // wall clock; may lag the send by a coarse clock's tick
  std::int64_t sent_ns = 0;       // monotonic; never earlier than the send (TTLs, delays)

  [[nodiscard]] const std::byte* bytes() const noexcept {
    return reinterpret_cast<const std::byte*>(this + 1);
  }
  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(bytes()), key_size};
  }
  [[nodiscard]] std::string_view group() const noexcept {
    return {reinterpret_cast<const char*>(bytes()) + key_size, group_size};
  }
  /// The extras in front of the fixed part, or null for a plain message.
  [[nodiscard]] const MessageExtras* extras() const noexcept {
    if ((flags & kHasExtras) == 0) return nullptr;
    return std::launder(reinterpret_cast<const MessageExtras*>(
        reinterpret_cast<const std::byte*>(this) - sizeof(MessageExtras)));
  }
  /// The body that holds the payload bytes and object: this one, or the origin.
  [[nodiscard]] const MessageBody& content() const noexcept {
    const MessageExtras* e = extras();
    return e != nullptr && e->origin != nullptr ? *e->origin : *this;
  }
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    const MessageBody& c = content();
    return {c.bytes() + c.key_size + c.group_size, c.payload_size};
  }
  [[nodiscard]] const Headers& headers() const noexcept {
    static const Headers none;
    const MessageExtras* e = extras();
    return e != nullptr ? e->headers : none;
  }
  [[nodiscard]] void* object() const noexcept {
    const MessageExtras* e = content().extras();
    return e != nullptr ? e->object : nullptr;
  }
  [[nodiscard]] const ObjectOps* object_ops() const noexcept {
    const MessageExtras* e = content().extras();
    return e != nullptr ? e->object_ops : nullptr;
  }
  [[nodiscard]] std::int64_t deliver_after_ns() const noexcept {
    const MessageExtras* e = extras();
    return e != nullptr ? e->deliver_after_ns : 0;
  }
  /// The producer-set timestamp (wall ns), 0 for none; a derived body shows its original's.
  [[nodiscard]] std::int64_t created_ns() const noexcept {
    const MessageExtras* e = content().extras();
    return e != nullptr ? e->created_ns : 0;
  }
  /// The producer-set message id, empty for none; a derived body shows its original's.
  [[nodiscard]] std::string_view message_id() const noexcept {
    const MessageExtras* e = content().extras();
    return e != nullptr ? std::string_view(e->message_id) : std::string_view();
  }
  [[nodiscard]] std::int64_t expires_at_ns() const noexcept {
    const MessageExtras* e = extras();
    return e != nullptr ? e->expires_at_ns : 0;
  }
  /// The extras, to fill in while the body is still private to its builder. Only for a body
  /// created `with_extras`.
  MessageExtras& mutable_extras() noexcept {
    assert((flags & kHasExtras) != 0 && "mutable_extras: the body was created without extras");
    return *const_cast<MessageExtras*>(extras());
  }

  /// Allocates a body with room for the given variable parts (and a default MessageExtras in
  /// the same block when `with_extras`) and copies them in. Throws std::bad_alloc.
  static MessageBody* create(std::string_view key, std::string_view group,
                             std::span<const std::byte> payload, bool with_extras = false) {
    const std::size_t extras_size = with_extras ? sizeof(MessageExtras) : 0;
    const std::size_t size =
        extras_size + sizeof(MessageBody) + key.size() + group.size() + payload.size();
    auto* raw = static_cast<std::byte*>(BlockPool::instance().allocate(size));
    if (with_extras) new (raw) MessageExtras();  // noexcept: every member starts empty
    auto* body = new (raw + extras_size) MessageBody();
    body->flags = with_extras ? kHasExtras : 0;
    body->key_size = static_cast<std::uint16_t>(key.size());
    body->group_size = static_cast<std::uint16_t>(group.size());
    body->payload_size = static_cast<std::uint32_t>(payload.size());
    auto* out = reinterpret_cast<char*>(body + 1);
    if (!key.empty()) std::memcpy(out, key.data(), key.size());
    if (!group.empty()) std::memcpy(out + key.size(), group.data(), group.size());
    if (!payload.empty())
      std::memcpy(out + key.size() + group.size(), payload.data(), payload.size());
    return body;
  }

  /// A body with the same id, timestamps, key, group, priority and content as `original`, and
  /// `new_headers`. Shares the original's payload (no copy).
  static MessageBody* derive(const MessageBody& original, Headers new_headers) {
    return derive(original, std::move(new_headers), original.key());
  }
  /// As above, with `new_key` (at most 65535 bytes) for its key (a dead letter's routing key).
  static MessageBody* derive(const MessageBody& original, Headers new_headers,
                             std::string_view new_key) {
    MessageBody* body = create(new_key, original.group(), {}, true);
    body->priority = original.priority;
    body->id = original.id;
    body->timestamp_ns = original.timestamp_ns;
    body->sent_ns = original.sent_ns;
    MessageExtras& extras = body->mutable_extras();
    extras.headers = std::move(new_headers);
    auto& content = const_cast<MessageBody&>(original.content());
    content.retain();
    extras.origin = &content;
    return body;
  }

  /// Bytes of the block, extras included.
  [[nodiscard]] std::size_t allocation_size() const noexcept {
    return ((flags & kHasExtras) != 0 ? sizeof(MessageExtras) : 0) + sizeof(MessageBody) +
           key_size + group_size + payload_size;
  }

  void retain() noexcept {
    // Relaxed: taking a new reference needs an existing one, which already orders us.
    refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    // A count of 1 is ours alone: nobody else holds a reference, so nobody can take one (a
    // new reference needs an existing one), and the write below can be skipped — most
    // messages end that way, and it keeps the releasing core from an RMW on the body's line.
    // Acquire (the load) / acq_rel (the RMW): the last releaser must see every other holder's
    // reads finished before it frees.
    if (refs.load(std::memory_order_acquire) == 1 ||
        refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const std::size_t size = allocation_size();
      void* block = this;
      if (auto* e = const_cast<MessageExtras*>(extras())) {
        if (e->object != nullptr) e->object_ops->destroy(e->object);
        if (e->origin != nullptr) e->origin->release();
        e->~MessageExtras();
        block = e;
      }
      this->~MessageBody();
      BlockPool::instance().deallocate(block, size);
    }
  }
};

static_assert(sizeof(MessageBody) == 40 && offsetof(MessageBody, flags) == 13 &&
                  offsetof(MessageBody, id) == 16 && offsetof(MessageBody, sent_ns) == 32,
              "the fixed part is laid out as the diagram says");
static_assert(sizeof(MessageBody) + 64 == 104 &&
                  BlockPool::class_size(BlockPool::class_of(sizeof(MessageBody) + 64)) == 104,
              "a plain 64-byte message fits a 104-byte block (one 112-byte malloc chunk)");
static_assert(sizeof(MessageExtras) % alignof(MessageBody) == 0 &&
                  alignof(MessageExtras) <= alignof(std::max_align_t),
              "the fixed part follows the extras without padding");
static_assert(std::is_nothrow_default_constructible_v<MessageExtras>,
              "create() builds the extras on a path that must not throw half-way");
static_assert(alignof(MessageBody) <= alignof(std::max_align_t),
              "the variable part follows the fixed part without extra alignment");

}  // namespace switchyard::detail
