// switchyard/producer.hpp — sends messages to destinations by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/message.hpp"
#include "switchyard/request.hpp"
#include "switchyard/send_options.hpp"

namespace switchyard {

namespace detail {
class Access;
class Registry;
class Destination;
class Requester;
/// A payload `Producer::send` has no overload for: not text, not bytes, not an `Object<T>`.
template <class T>
concept UnwrappedObject =
    !std::is_convertible_v<T, std::string_view> &&
    !std::is_convertible_v<T, std::span<const std::byte>> && !is_object_v<std::remove_cvref_t<T>>;
}  // namespace detail

/// Sends to any destination by name — a queue, a topic (the key picks the partition) or an
/// exchange (the key is the routing key) — never to a consumer.
///
/// A send is asynchronous: it returns once the destination has accepted the message, without
/// waiting for any consumer. It blocks only as the destination's overflow policy says.
///
/// Thread-compatible, not thread-safe: give each sending thread its own Producer (they are
/// cheap: a pointer, a one-entry cache and a block of message ids).
///
/// Request / reply (switchyard/request.hpp): `request` sends a message with `reply_to` and
/// `correlation_id` set and waits for its reply. A producer's first request makes its reply
/// queue and reply thread, shared by its copies (made after that) and gone with the last.
class SWITCHYARD_EXPORT Producer {
 public:
  Producer() = default;

  /// Sends `payload` (copied once into the message). Returns the message id; for a duplicate
  /// deduplication id, the id of the message first sent with it.
  Result<MessageId> send(std::string_view destination, std::string_view payload,
                         const SendOptions& options = {}) noexcept;
  Result<MessageId> send(std::string_view destination, std::span<const std::byte> payload,
                         const SendOptions& options = {}) noexcept;
  /// Sends a C++ object by ownership: receivers read it with `Message::object<T>()`; it is
  /// encoded (with `Codec<T>`) only where bytes are needed.
  template <class T>
  Result<MessageId> send(std::string_view destination, Object<T> object,
                         const SendOptions& options = {}) noexcept;
  /// Anything else as a payload — a C++ object not wrapped in `switchyard::object(...)` — is a
  /// compile error saying what to write (instead of a page of failed overloads).
  template <detail::UnwrappedObject T>
  Result<MessageId> send(std::string_view destination, T&& payload,
                         const SendOptions& options = {}) noexcept {
    static_assert(detail::is_object_v<std::remove_cvref_t<T>>,
                  "send takes text (std::string_view), bytes (std::span<const std::byte>) or a "
                  "C++ object wrapped in switchyard::object: write "
                  "producer.send(destination, switchyard::object(std::move(value)))");
    (void)destination, (void)payload, (void)options;  // never reached: the assert fails
    return Result<MessageId>(Errc::invalid_argument);
  }
  /// Re-sends an existing message (shares its payload; a new id and timestamp are not given).
  Result<MessageId> forward(std::string_view destination, const Message& message,
                            const SendOptions& options = {}) noexcept;
  /// RabbitMQ-style publish: `send` with `options.key = routing_key`.
  Result<MessageId> publish(std::string_view exchange, std::string_view routing_key,
                            std::string_view payload, SendOptions options = {}) noexcept;
  /// Sends each payload in order with the same options; stops at the first failure. Returns
  /// how many were accepted — fewer than `payloads.size()` means the next one failed, and the
  /// failure is returned instead when none was accepted.
  Result<std::size_t> send_batch(std::string_view destination,
                                 std::span<const std::string_view> payloads,
                                 const SendOptions& options = {}) noexcept;

  // --- request / reply (RabbitMQ RPC; outcomes and threads: switchyard/request.hpp) -------
  /// Sends a request and waits for its outcome: the reply, or `timed_out`, `remote_error`,
  /// `unroutable`, `closed`, or the send's error. Blocks up to `options.timeout` by the broker's
  /// clock. From a ReplyHandler of this producer: `invalid_argument` (it would wait for itself).
  [[nodiscard]] Result<Message> request(std::string_view destination, std::string_view payload,
                                        const RequestOptions& options = {}) noexcept;
  /// Sends a request; `on_reply` is called exactly once with its outcome (which thread:
  /// `ReplyHandler`). Does not wait for the reply.
  void request(std::string_view destination, std::string_view payload,
               const RequestOptions& options, ReplyHandler on_reply) noexcept;
  /// The callback form, as a future (ready when `on_reply` would be called).
  [[nodiscard]] std::future<Result<Message>> request_future(std::string_view destination,
                                                            std::string_view payload,
                                                            const RequestOptions& options = {});
  /// This producer's request counters (all zero before its first request).
  [[nodiscard]] RequestStats request_stats() const noexcept;
  /// The name of this producer's reply queue; empty before its first request.
  [[nodiscard]] std::string reply_queue() const;

  explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit Producer(std::shared_ptr<detail::Registry> core) noexcept : core_(std::move(core)) {}

  Result<MessageId> deliver(std::string_view destination, Message&& message,
                            const SendOptions& options) noexcept;
  /// `deliver` to `target`, the result of `lookup(destination)` (null: unknown destination).
  Result<MessageId> deliver_to(detail::Destination* target, std::string_view destination,
                               Message&& message, const SendOptions& options) noexcept;
  /// Whether a send passes what every send checks before building anything: key and group at
  /// most 65535 bytes (a message id too), a payload below 4 GiB, no negative delay or ttl. Inline:
  /// every send.
  static bool valid(std::span<const std::byte> payload, const SendOptions& options) noexcept {
    constexpr std::size_t kMaxShort = 65535;
    return options.key.size() <= kMaxShort && options.group.size() <= kMaxShort &&
           options.message_id.size() <= kMaxShort && payload.size() <= 0xFFFF'FFFFull &&
           options.delay.count() >= 0 && options.ttl.count() >= 0;
  }
  /// Why `valid` said no (out of line: the cold path).
  static Failure refusal(std::span<const std::byte> payload, const SendOptions& options);
  /// A message body for `payload` (or `object`, owned from here on) with id `id`, stamped with
  /// `stamp`: a `coarse_stamp()` of the broker's clock, shared by every message of a batch.
  Result<Message> make(std::string_view destination, std::span<const std::byte> payload,
                       const SendOptions& options, void* object, const detail::ObjectOps* ops,
                       const Stamp& stamp, MessageId id) noexcept;
  /// The next id of this producer's block (a new block from the broker when it runs out).
  MessageId next_id() noexcept { return ids_.next != ids_.end ? ids_.next++ : next_id_block(); }
  MessageId next_id_block() noexcept;
  [[nodiscard]] Failure id_refusal() const noexcept;  // why next_id() gave 0
  /// The stamp for messages sent now (see make).
  [[nodiscard]] Stamp send_stamp() const noexcept;
  /// The destination named `name`, or null; valid until the next lookup (the cache holds it).
  detail::Destination* lookup(std::string_view name) noexcept;

  std::shared_ptr<detail::Registry> core_;
  // One-entry cache: most producers talk to one destination.
  std::string cached_name_;
  std::shared_ptr<detail::Destination> cached_;
  std::uint64_t cached_generation_ = 0;
  // Message ids come from the broker in blocks, so a send touches no shared counter. A block
  // is one producer's: a copy starts without one (and takes its own at its first send), a move
  // takes it along — two producers never hand out the same id.
  struct IdBlock {
    std::uint64_t next = 0;
    std::uint64_t end = 0;
    IdBlock() = default;
    IdBlock(const IdBlock&) noexcept {}
    IdBlock(IdBlock&& other) noexcept
        : next(std::exchange(other.next, 0)), end(std::exchange(other.end, 0)) {}
    IdBlock& operator=(const IdBlock& other) noexcept {
      if (this != &other) next = end = 0;
      return *this;
    }
    IdBlock& operator=(IdBlock&& other) noexcept {
      next = std::exchange(other.next, 0);
      end = std::exchange(other.end, 0);
      return *this;
    }
    ~IdBlock() = default;
  };
  IdBlock ids_;
  // Its reply queue and reply thread, made by the first request (src/broker/requester.hpp).
  std::shared_ptr<detail::Requester> requester_;
};

template <class T>
Result<MessageId> Producer::send(std::string_view destination, Object<T> object,
                                 const SendOptions& options) noexcept {
  T* owned = nullptr;
  try {
    owned = new T(std::move(object.value));
  } catch (const std::bad_alloc&) {
    return Result<MessageId>(Errc::out_of_memory);
  } catch (...) {
    return Result<MessageId>(Errc::invalid_argument, "could not move the object in");
  }
  if (!*this) {
    delete owned;
    return Result<MessageId>(Errc::closed, "producer is empty (default-constructed)");
  }
  auto message =
      make(destination, {}, options, owned, &detail::object_ops_for<T>(), send_stamp(), next_id());
  if (!message) return Result<MessageId>(message.failure());
  return deliver(destination, std::move(*message), options);
}

}  // namespace switchyard
