// switchyard/log.hpp — the logging hook: where the library tells a service what it must hear.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace switchyard {

/// How much a log line matters. The library logs only `info` and above today.
enum class LogLevel : std::uint8_t {
  debug,
  info,     ///< a normal but notable event (recovery found nothing to repair is not logged)
  warning,  ///< something was repaired, dropped or discarded; the broker goes on
  error,    ///< an operation failed (an I/O error, a handler or interceptor that threw)
};

/// "debug", "info", "warning", "error".
[[nodiscard]] constexpr std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      break;
  }
  return "error";
}

/// A user-supplied sink for the broker's log lines, set in `BrokerOptions::log`; empty (the
/// default): the broker is silent and formats nothing. `component` names the part of the
/// library speaking ("recovery", "queue", "topic", "pubsub", "consumer", "interceptor");
/// `message` is one formatted line, without a trailing newline, naming the destination (and
/// file and offset, for a recovery repair). Both views live only for the call.
///
/// What is logged: every recovery repair (a torn tail truncated, a region skipped under
/// salvage, a half-created segment removed, discarded settlements), I/O errors the caller of
/// the operation would not otherwise see (a journal record of a delivery or a drop that could
/// not be written, an auto-commit that failed), dropped messages (no dead-letter queue for a
/// rejected, expired, over-delivered or overflowed message; a pub/sub subscriber's full
/// buffer), exceptions thrown by push-consumer and pub/sub handlers, and by interceptors.
/// Per-message events are aggregated: at most one line per second (of the broker's clock) per
/// destination and kind of event, carrying the count since the previous line, so a hot path
/// never formats per message. Exact counts are in the stats and `Broker::metrics()`.
///
/// Threading: called on any thread — a sender's, a consumer's, a dispatch thread, the
/// broker's constructor — concurrently: the sink must be thread-safe. It must not call back
/// into the broker (it may run under a destination's internal state change) and should
/// return quickly (hand the line to your logger). An exception from it is swallowed.
using LogSink =
    std::function<void(LogLevel level, std::string_view component, std::string_view message)>;

}  // namespace switchyard
