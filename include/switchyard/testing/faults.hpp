// switchyard/testing/faults.hpp — faults for the user's own handlers: what at-least-once
// delivery does in production, on purpose, reproducibly.
//
// A `Fault` hits either the deliveries a `Dispatcher`'s queue handlers get (`Dispatcher::inject`)
// or the sends of a broker's producers (`SendFaults::inject`), by rule (every Nth delivery of a
// queue, every Nth send to a destination) or at random (drawn from a seeded generator, so a
// failing run replays). What each kind does, and what a correct handler must survive:
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
//   delay               the delivery reaches the handler `Fault::delay` of virtual time late (a
//                       slow link to that consumer): the delivery is in flight meanwhile (its
//                       visibility timeout runs: past it, the queue takes it back at its next
//                       receive — another consumer's — and the late handler's ack fails as
//                       stale), and that consumer gets nothing else until it arrived — its
//                       stream stays in order; the queue's other consumers go on.
//                       `Dispatcher::run_for` moves time to it; `step` at the current time does
//                       not.
//   reorder             the delivery is swapped with the next one its consumer receives (when one
//                       is ready at once): the handler sees the second first. Only where the queue
//                       promises no order: never on a `single_active_consumer` queue (it promises
//                       the queue's order), and never two deliveries of one message group (SQS
//                       FIFO promises order within a group; the queue already holds a group's next
//                       message back while one is in flight, so a swap is always across groups or
//                       ungrouped messages). The swapped-in delivery gets no delay or reorder.
//   fail_send           a producer's send (or `forward`) to the destination fails with
//                       `Fault::error`: it returns `Result<MessageId>` holding that `Failure`, as
//                       a refusing destination's would, and nothing is enqueued (the recorder
//                       still shows the `sent` event: `on_send` runs before a destination
//                       refuses, as for a real one). A pub/sub `Broker::publish` on the channel
//                       throws `Error` with it (publish returns a count, not a Result).
// Restarting a durable broker needs no fault: `DurableSandbox::restart`
// (switchyard/testing/durable_sandbox.hpp).
//
// Why `fail_send` is an interceptor (`SendFaults`) and not a dispatcher fault: sends are made by
// the code under test, on any thread, through `Producer`; the one place every producer send
// passes with a way to stop it is the interceptor chain (`Interceptor::refuse_send`, right after
// `on_send`), which a broker without interceptors skips with one branch. So the only new
// mechanism is that hook; no test-only seam in `Producer`. A send, a `forward` (an existing
// message: no `on_send`, its own headers are asked about) and a pub/sub `Broker::publish` all
// ask it through one check.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/interceptor.hpp"

namespace switchyard::testing {

enum class FaultKind : std::uint8_t {
  duplicate_delivery,
  lose_ack,
  crash_before_ack,
  delay,
  reorder,
  fail_send,
};

struct Fault {
  FaultKind kind = FaultKind::duplicate_delivery;
  /// The queue whose deliveries it hits (`fail_send`: the destination whose sends — a queue,
  /// topic or exchange); empty: every one.
  std::string queue{};
  /// By rule: every `every`-th delivery of that queue (every `every`-th send to that
  /// destination; 1: each one); 0: not by rule.
  std::uint32_t every = 0;
  /// At random: the chance per delivery (or send), 0 to 1, drawn from the seeded generator.
  double probability = 0.0;
  /// At most this many injections of this fault.
  std::uint32_t at_most = UINT32_MAX;
  /// `delay`: how late the delivery reaches its handler, in virtual time; above 0.
  Duration delay{};
  /// `fail_send`: the code the failed send returns; not `Errc::ok`. `full` is what a queue at
  /// capacity under `Overflow::reject` returns; `io_error` / `disk_full` what a durable one may.
  Errc error = Errc::full;
};

/// Makes producer sends fail (`FaultKind::fail_send` faults). An `Interceptor`: give it to
/// `BrokerOptions::interceptors` (after a `Recorder`, if any), then `inject` faults — also while
/// the flow runs.
///
///   auto faults = std::make_shared<testing::SendFaults>(/*seed=*/7);
///   Broker broker({.clock = clock, .interceptors = {recorder, faults}});
///   faults->inject({.kind = testing::FaultKind::fail_send, .queue = "orders", .every = 3});
///
/// State: the faults with their injection counts, a send count per destination (the rule's N)
/// and a std::mt19937_64 seeded with `seed`, under one mutex. Threading: thread-safe; sends from
/// several threads draw in the order they reach the mutex, so a random run replays exactly when
/// its sends come from one thread (a test's, or a `Dispatcher`'s handlers).
class SWITCHYARD_EXPORT SendFaults final : public Interceptor {
 public:
  explicit SendFaults(std::uint64_t seed = 0);
  ~SendFaults() override;
  SendFaults(const SendFaults&) = delete;
  SendFaults& operator=(const SendFaults&) = delete;

  /// Adds a `fail_send` fault. Throws `Error(invalid_argument)` for another kind, a
  /// probability outside [0, 1], or `error == Errc::ok`.
  void inject(Fault fault);
  /// How many sends have been failed so far.
  [[nodiscard]] std::uint64_t faults_injected() const noexcept;

  Failure refuse_send(std::string_view destination, const Headers& headers) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchyard::testing
