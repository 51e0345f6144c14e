// src/util/logger.hpp — the library's side of the logging hook (switchyard/log.hpp): a Logger
// that formats (fmt) only when a sink is installed, and a LogThrottle that turns a per-message
// event into at most one line per interval.
//
// Threading: a Logger is immutable after construction; `log` may be called from any thread
// (the sink's own thread-safety is the user's promise, log.hpp). A LogThrottle is lock-free:
// its two atomics publish nothing but themselves, so every access is relaxed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "switchyard/log.hpp"

namespace switchyard::detail {

class Logger {
 public:
  Logger() = default;
  explicit Logger(LogSink sink) : sink_(std::move(sink)) {}

  /// Whether a sink is installed (without one, nothing is ever formatted).
  [[nodiscard]] bool enabled() const noexcept { return static_cast<bool>(sink_); }

  /// Formats one line and hands it to the sink; a formatting failure (out of memory) or an
  /// exception from the sink is swallowed: logging never fails the operation that logs.
  template <class... Args>
  void log(LogLevel level, std::string_view component, fmt::format_string<Args...> format,
           Args&&... args) const noexcept {
    if (!sink_) return;
    try {
      const std::string line = fmt::format(format, std::forward<Args>(args)...);
      sink_(level, component, line);
    } catch (...) {
      // A sink must not throw (log.hpp); if it does, the line is lost, the broker goes on.
    }
  }

 private:
  LogSink sink_;
};

/// Aggregates one kind of event (a queue's drops, a handler's exceptions) into at most one log
/// line per interval: the first event is reported at once, later ones at the first event
/// after the interval, with the count of events since the previous line. An event at the end
/// of a burst is reported with the next line (the exact totals are in the stats). 16 bytes.
class LogThrottle {
 public:
  static constexpr std::int64_t kInterval = 1'000'000'000;  // ns of the broker's clock

  /// Counts one event at `now_ns`. Returns how many events to report now (this one included),
  /// or 0 when the line is not due yet. Lock-free; exactly one caller per interval wins the
  /// CAS and reports, so the counts of all lines sum to the events counted before the last.
  std::uint64_t count(std::int64_t now_ns) noexcept {
    // Relaxed throughout: the counter and the due time order nothing else.
    pending_.fetch_add(1, std::memory_order_relaxed);
    std::int64_t due = due_ns_.load(std::memory_order_relaxed);
    if (now_ns < due) return 0;
    const std::int64_t next = now_ns > INT64_MAX - kInterval ? INT64_MAX : now_ns + kInterval;
    if (!due_ns_.compare_exchange_strong(due, next, std::memory_order_relaxed)) return 0;
    return pending_.exchange(0, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> due_ns_{INT64_MIN};
  std::atomic<std::uint64_t> pending_{0};
};

}  // namespace switchyard::detail
