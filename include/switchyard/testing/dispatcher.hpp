// switchyard/testing/dispatcher.hpp — a flow's handlers run on the test's thread, one step at a
// time: queue consumers, group members and pub/sub handlers, replayable with a seed.
//
// Instead of `consumer.run(handler)` (push workers on their own threads), a test registers its
// handlers with a `Dispatcher` and drives them: `step()` runs one handler call, `run_until_idle()`
// steps until nothing is ready at the current time, `run_for(d)` also moves virtual time to each
// timed event (a delay, a backoff, a visibility timeout) up to `now + d`. Everything the handlers
// do then happens on the calling thread in one order, so a flow is a replayable sequence: with
// `Options::seed` ≠ 0, which handler runs next among those with work is chosen at random —
// reproducibly, so two runs with one seed give one trace (a Recorder's), and different seeds
// explore different interleavings.
//
// Semantics are those of the push APIs they replace: a queue handler that returns acks (unless
// it settled the delivery itself), one that throws nacks (ConsumerOptions::on_error is not
// called); a group handler sees each record once
// and the member commits after it (an exception propagates out of `step`); a pub/sub handler
// sees every message published on its channel after `subscribe`.
//
// Pub/sub messages still reach the kit through the broker's subscription thread, which only
// queues them for the dispatcher; `step` first waits (`VirtualClock::wait_until_idle`) until that
// thread and every other thread of the test is blocked, so what is ready does not depend on
// thread timing; after each handler call it waits the same way before it settles, so what the
// handler set off on broker threads (a publish's delivery to a subscription) is recorded before
// the settlement. Needs the broker's clock to be the given VirtualClock.
//
// Threading: one thread drives a dispatcher (normally the test's); it is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "switchyard/broker.hpp"
#include "switchyard/consumer.hpp"
#include "switchyard/export.hpp"
#include "switchyard/record.hpp"
#include "switchyard/testing/faults.hpp"
#include "switchyard/testing/virtual_clock.hpp"

namespace switchyard::testing {

class SWITCHYARD_EXPORT Dispatcher {
 public:
  struct Options {
    /// 0: handlers take turns in registration order (round robin). Otherwise the seed of the
    /// random choice among handlers (std::mt19937_64).
    std::uint64_t seed = 0;
  };

  /// `broker` and `clock` must outlive the dispatcher; `clock` is the broker's.
  Dispatcher(Broker& broker, std::shared_ptr<VirtualClock> clock);
  Dispatcher(Broker& broker, std::shared_ptr<VirtualClock> clock, Options options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// A competing consumer of `queue` whose handler runs in `step` (throws what
  /// `Broker::consumer` throws). Several on one queue compete as push workers would.
  void consume(std::string_view queue, Consumer::Handler handler,
               const ConsumerOptions& options = {});
  /// A member of `group` on `topic` whose handler sees each record once, then commits.
  void consume(std::string_view topic, std::string_view group,
               std::function<void(const Record&)> handler);
  /// A pub/sub subscription to `channel` whose handler runs in `step`.
  void subscribe(std::string_view channel, std::function<void(const Message&)> handler);

  /// Injects `fault` into the deliveries of the queue handlers (switchyard/testing/faults.hpp):
  /// duplicate_delivery, lose_ack, crash_before_ack, delay, reorder.
  /// Throws `Error(invalid_argument)` for a probability outside [0, 1], or a `fail_send` (give
  /// that to a `SendFaults`), or a `delay` fault without a delay above 0.
  void inject(Fault fault);
  /// How many faults have been injected so far.
  [[nodiscard]] std::uint64_t faults_injected() const noexcept;

  /// Runs one handler call with work ready now; false if none has any (time does not move).
  bool step();
  /// Steps until no handler has work at the current time, at most `max_steps`; returns the
  /// number of steps.
  std::size_t run_until_idle(std::size_t max_steps = 1'000'000);
  /// `run_until_idle`, then moves time to the next timed event of a queue or of a delay fault
  /// (at most to `now + d`) and again, until time is `now + d` and nothing is ready. Returns
  /// the steps.
  std::size_t run_for(Duration d);
  /// Steps taken so far.
  [[nodiscard]] std::uint64_t steps() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchyard::testing
