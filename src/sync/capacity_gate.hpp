// src/sync/capacity_gate.hpp — room in a bounded buffer for what arrives, or what the buffer's
// policy for "full" says: refuse, make room by dropping the oldest, or wait for room.
//
// One gate for every bounded buffer of the broker: a queue's capacity (`Overflow`, with
// `QueueState::reserve_capacity` as the inline first try) and a pub/sub subscriber's buffer
// (`SlowSubscriber`). The buffer keeps its own counting; the gate only runs the policy around
// its tries, so the two cannot disagree on when a blocked arrival gives up or how it waits.
//
// Waiting (`WhenFull::block`) is the broker's one idle wait (idle_wait.hpp): spin on the
// buffer's room hint, yield, then park on `space`, the event count that whoever frees room
// notifies. The deadline is by the buffer's clock. A sender's last look is after its last
// sleep: room freed in the final moments is taken, not refused.
#pragma once

#include <cstdint>
#include <type_traits>

#include "switchyard/clock.hpp"
#include "switchyard/wait_strategy.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"

namespace switchyard::detail {

/// What a full buffer does with one more arrival.
enum class WhenFull : std::uint8_t {
  reject,       ///< refuse it at once
  drop_oldest,  ///< drop the oldest buffered item to make room (refuse if there is none)
  block,        ///< wait for room until the deadline, then refuse
};

/// What one try at the buffer found.
enum class Room : std::uint8_t {
  taken,        ///< room was there; the arrival has it (reserved, or already in)
  full,         ///< no room now
  unavailable,  ///< the try failed for good (out of memory): refuse without waiting
};

/// The buffer a gate guards, as four callables:
///   try_take()    Room   take room for the arrival, or say why not; may have effects
///   room_hint()   bool   a cheap lock-free look: may room be there? (while spinning)
///   drop_oldest() bool   drop the oldest item to make room; false if there is none
///   closed()      bool   the buffer takes nothing more (checked after each full try)
/// All noexcept; any thread; each called on the arriving thread only.
template <class TryTake, class RoomHint, class DropOldest, class Closed>
struct GatedBuffer {
  TryTake try_take;
  RoomHint room_hint;
  DropOldest drop_oldest;
  Closed closed;
};
template <class TryTake, class RoomHint, class DropOldest, class Closed>
GatedBuffer(TryTake, RoomHint, DropOldest, Closed)
    -> GatedBuffer<TryTake, RoomHint, DropOldest, Closed>;

/// Where a blocked arrival waits, and until when.
struct RoomWait {
  EventCount& space;   ///< notified whenever room is freed (and on close)
  const Clock& clock;  ///< the buffer's clock: `deadline` is by it
  TimePoint deadline;  ///< when a blocked arrival gives up
};

/// Runs the policy after a first try that found `first` (the caller's inline fast path): true
/// once room is taken; false when refused — full under `reject`, nothing to drop, closed,
/// unavailable, or the deadline passed under `block`. The caller tells closed from full by
/// asking the buffer. Blocks only under `block`, at most until `wait.deadline` (plus one
/// sleep of the clock's `max_real_sleep()`). @note threadsafe, as the buffer's callables are
template <class Buffer>
[[nodiscard]] bool pass_capacity_gate(Room first, WhenFull when_full, Buffer&& buffer,
                                      const RoomWait& wait) noexcept {
  static_assert(std::is_nothrow_invocable_r_v<Room, decltype((buffer.try_take))>,
                "the gate runs on noexcept paths: try_take() must be noexcept");
  static_assert(std::is_nothrow_invocable_r_v<bool, decltype((buffer.drop_oldest))> &&
                    std::is_nothrow_invocable_r_v<bool, decltype((buffer.closed))>,
                "the gate runs on noexcept paths: drop_oldest() and closed() must be noexcept");
  Room room = first;
  IdleWait idle(WaitStrategy::park, IdleWait::kForRoom);
  for (;; room = buffer.try_take()) {
    if (room != Room::full) return room == Room::taken;
    if (buffer.closed()) return false;
    switch (when_full) {
      case WhenFull::reject:
        return false;
      case WhenFull::drop_oldest:
        if (!buffer.drop_oldest()) return false;
        continue;
      case WhenFull::block:
        break;
    }
    if (idle.pause(buffer.room_hint)) continue;
    const TimePoint now = wait.clock.now();
    if (now >= wait.deadline) return false;
    // Registered first, then one more try (see event_count.hpp): room freed in between is
    // taken here, or its notify ends the sleep.
    IdleWait::park(
        wait.space,
        [&]() noexcept {
          room = buffer.try_take();
          return room != Room::full || buffer.closed();
        },
        now, wait.deadline, wait.clock);
    if (room != Room::full) return room == Room::taken;
    idle.restart();
  }
}

}  // namespace switchyard::detail
