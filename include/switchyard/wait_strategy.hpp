// switchyard/wait_strategy.hpp — how a consumer waits when there is nothing to take.
#pragma once

#include <cstdint>

namespace switchyard {

/// Chosen per consumer. Spinning is right for latency benchmarks and wrong for a service.
enum class WaitStrategy : std::uint8_t {
  /// Spin briefly, then yield, then sleep in the kernel until woken. An idle consumer uses no
  /// CPU. The default.
  park,
  /// Spin briefly, then `sched_yield` in a loop. Lower wake-up latency; an idle consumer keeps
  /// a core runnable.
  yield,
  /// Busy-poll, never sleep. Lowest latency; burns a core while idle.
  spin,
};

}  // namespace switchyard
