// src/sync/broker_thread.hpp — the one way the broker starts a thread that may block on it.
//
// Push workers, pub/sub dispatch threads, a requester's reply thread, the queue-expiry thread
// and a compacted topic's compactor all start here, so the broker's clock counts each of them
// among the threads of the flow before it runs (`Clock::thread_starting`, then `thread_begins` /
// `thread_ends` on the thread): a clock that runs virtual time must not move while a thread it
// has not seen yet is starting.
#pragma once

#include <memory>
#include <thread>
#include <utility>

#include "switchyard/clock.hpp"

namespace switchyard::detail {

/// Starts `body` on a new thread announced to `clock`. Throws what `std::thread` throws (the
/// announcement is then withdrawn). `clock` is kept alive by the thread.
template <class Body>
[[nodiscard]] std::thread start_thread(std::shared_ptr<const Clock> clock, Body&& body) {
  clock->thread_starting();
  try {
    return std::thread([clock, body = std::forward<Body>(body)]() mutable {
      clock->thread_begins();
      body();
      clock->thread_ends();
    });
  } catch (...) {
    clock->thread_ends();
    throw;
  }
}

}  // namespace switchyard::detail
