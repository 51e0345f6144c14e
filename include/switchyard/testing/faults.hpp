// switchyard/testing/faults.hpp — faults for the user's own handlers: what at-least-once
// delivery does in production, on purpose, reproducibly.
//
// A `Fault` is given to a `Dispatcher` (`Dispatcher::inject`); it applies to the deliveries the
// dispatcher's queue handlers get, by rule (every Nth delivery of a queue) or at random (with
// the dispatcher's seed, so a failing run replays). What each kind does, and what a correct
// handler must survive:
//   duplicate_delivery  the handler is called twice with the same message before it is settled
//                       (a redelivery racing the first ack): it must be idempotent. (Not
//                       when the first call settled the delivery itself.)
//   lose_ack            the handler returns, but its ack never reaches the queue: the delivery
//                       stays in flight until the visibility timeout and comes back with attempt
//                       + 1 (`on_redelivery`, visibility_timeout) — the effects of the first
//                       call are already done.
//   crash_before_ack    the consumer dies after the handler ran, before the ack: the consumer is
//                       closed (its held deliveries go back at once, attempt + 1, `on_redelivery`
//                       consumer_closed) and a new one takes its place.
// Restarting a durable broker needs no fault: destroy the `Broker` and open it again on the same
// `data_dir` (see docs/testing.md).
#pragma once

#include <cstdint>
#include <string>

namespace switchyard::testing {

enum class FaultKind : std::uint8_t { duplicate_delivery, lose_ack, crash_before_ack };

struct Fault {
  FaultKind kind = FaultKind::duplicate_delivery;
  /// The queue whose deliveries it hits; empty: every queue of the dispatcher.
  std::string queue{};
  /// By rule: every `every`-th delivery of that queue (1: each one); 0: not by rule.
  std::uint32_t every = 0;
  /// At random: the chance per delivery, 0 to 1, drawn from the dispatcher's seeded generator.
  double probability = 0.0;
  /// At most this many injections of this fault.
  std::uint32_t at_most = UINT32_MAX;
};

}  // namespace switchyard::testing
