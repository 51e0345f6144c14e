// switchyard/pubsub.hpp — ephemeral publish/subscribe on channels (Redis Pub/Sub).
//
// Fire-and-forget: a message published on a channel reaches the subscribers present at that
// moment, is never stored, never acknowledged, never redelivered. Channels need no declaring.
// `psubscribe` takes a Redis glob pattern (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\` escape).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "switchyard/clock.hpp"
#include "switchyard/export.hpp"
#include "switchyard/message.hpp"

namespace switchyard {

namespace detail {
class Access;
class SubscriptionState;
}  // namespace detail

/// What a publish does when a subscriber's buffer is full.
enum class SlowSubscriber : std::uint8_t {
  drop,   ///< the message is not buffered for that subscriber; its `dropped` count rises
  block,  ///< the publisher waits up to `block_timeout` for room, then drops and counts
};

struct SubscriberOptions {
  /// Messages buffered between publishers and this subscriber's handler. ≥ 1. A limit, not
  /// a reservation: memory follows what is buffered. Exact above 4096; at most 4096 it is
  /// rounded up to a power of two (the lock-free ring's size).
  std::size_t buffer = 4096;
  SlowSubscriber when_full = SlowSubscriber::drop;
  /// Under `SlowSubscriber::block`: how long a publish waits for room. 0 to Duration::max()
  /// (never gives up); negative is refused with `Errc::invalid_argument`.
  Duration block_timeout = std::chrono::seconds(1);
};

/// A snapshot of one subscription's counters (each exact; the snapshot not atomic as a whole).
struct SubscriptionStats {
  std::uint64_t delivered = 0;       ///< handler calls completed
  std::uint64_t dropped = 0;         ///< messages lost to a full buffer (never silently)
  std::uint64_t handler_errors = 0;  ///< handler calls that threw
  std::size_t buffered = 0;          ///< waiting for the handler now
};

/// A live subscription. Its handler runs on the subscription's own thread, one message at a
/// time, in publish order per publisher. `message.key()` is the channel the message was
/// published on. Move-only; destroying it unsubscribes.
class SWITCHYARD_EXPORT Subscription {
 public:
  /// Called with each message; exceptions are counted in `handler_errors` and swallowed.
  using Handler = std::function<void(const Message&)>;

  Subscription() = default;
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  /// Stops deliveries. Safe from any thread and from inside the handler. When called from
  /// another thread it returns after the handler's current call (if any) has finished, and
  /// the handler is never called again; from inside the handler, the current call is the last.
  /// Messages still buffered are discarded (fire-and-forget). Idempotent.
  void unsubscribe() noexcept;

  [[nodiscard]] SubscriptionStats stats() const noexcept;
  /// The channel, or the pattern for a `psubscribe`.
  [[nodiscard]] const std::string& channel() const noexcept;
  [[nodiscard]] bool is_pattern() const noexcept;
  [[nodiscard]] bool active() const noexcept;

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit Subscription(std::shared_ptr<detail::SubscriptionState> state) noexcept;

  std::shared_ptr<detail::SubscriptionState> state_;
};

}  // namespace switchyard
