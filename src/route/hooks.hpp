// src/route/hooks.hpp — what a broker tells its user about the messages it moves: the
// interceptors (switchyard/interceptor.hpp) and the log (switchyard/log.hpp), in one object
// every destination shares.
//
// Cost: a destination checks `intercepting()` (one load of a vector's two pointers, fixed at
// construction) before building any hook argument, and `logging()` before formatting, so a
// broker with neither pays one predictable branch per event.
//
// Threading: immutable after construction but for its LogThrottle (lock-free); shared
// (shared_ptr) by the registry and every queue, topic and pub/sub subscription, so a handle
// that outlives the broker still finds it.
#pragma once

#include <exception>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/interceptor.hpp"
#include "switchyard/log.hpp"
#include "util/logger.hpp"
#include "util/time.hpp"

namespace switchyard::detail {

class Hooks {
 public:
  Hooks(std::shared_ptr<Clock> clock, std::vector<std::shared_ptr<Interceptor>> interceptors,
        LogSink log)
      : clock_(std::move(clock)), interceptors_(std::move(interceptors)), log_(std::move(log)) {}

  /// No interceptors, no log: what a state made without a broker's hooks uses.
  [[nodiscard]] static const std::shared_ptr<const Hooks>& none() {
    static const std::shared_ptr<const Hooks> empty = std::make_shared<const Hooks>(
        SystemClock::instance(), std::vector<std::shared_ptr<Interceptor>>{}, LogSink{});
    return empty;
  }

  [[nodiscard]] const std::vector<std::shared_ptr<Interceptor>>& interceptors() const noexcept {
    return interceptors_;
  }
  [[nodiscard]] bool intercepting() const noexcept { return !interceptors_.empty(); }
  [[nodiscard]] bool logging() const noexcept { return log_.enabled(); }
  [[nodiscard]] const Logger& log() const noexcept { return log_; }
  [[nodiscard]] const Clock& clock() const noexcept { return *clock_; }

  /// Calls `hook(interceptor)` for each interceptor, in order. An exception is caught and
  /// logged (throttled) as a failure of `event`; the next interceptor still runs.
  template <class Hook>
  void each(std::string_view event, Hook&& hook) const noexcept {
    each_of(interceptors_, event, hook);
  }
  /// The same over a copy of the list (a ConsumerState keeps one beside its hot fields).
  template <class Hook>
  void each_of(const std::vector<std::shared_ptr<Interceptor>>& list, std::string_view event,
               Hook&& hook) const noexcept {
    for (const auto& interceptor : list) each_of_one(*interceptor, event, hook);
  }

  /// The send to `destination` with `headers` that an interceptor refuses (`refuse_send`), or
  /// `Errc::ok`: the first refusal in interceptor order wins. The one check every way a message
  /// enters the broker goes through (a producer's send, `forward`, a pub/sub `publish`).
  [[nodiscard]] Failure refused(std::string_view destination,
                                const Headers& headers) const noexcept {
    Failure refusal;
    for (const auto& interceptor : interceptors_) {
      each_of_one(*interceptor, "refuse_send",
                  [&](Interceptor& i) { refusal = i.refuse_send(destination, headers); });
      if (refusal.code != Errc::ok) break;
    }
    return refusal;
  }

  /// Logs an interceptor's exception from `event` (at most one line a second, with a count).
  void interceptor_failed(std::string_view event, std::string_view what) const noexcept {
    if (!log_.enabled()) return;
    const std::uint64_t n = interceptor_errors_.count(ns(clock_->coarse_now()));
    if (n == 0) return;
    log_.log(LogLevel::error, "interceptor",
             "an interceptor threw from {}: {} ({} since the last report)", event, what, n);
  }

  /// Counts one occurrence of a per-message event on `throttle`; true (with the count to
  /// report in `n`) when a log line is due. False at once without a log.
  bool due(LogThrottle& throttle, std::uint64_t& n) const noexcept {
    if (!log_.enabled()) return false;
    n = throttle.count(ns(clock_->coarse_now()));
    return n != 0;
  }

 private:
  template <class Hook>
  void each_of_one(Interceptor& interceptor, std::string_view event, Hook&& hook) const noexcept {
    try {
      hook(interceptor);
    } catch (const std::exception& e) {
      interceptor_failed(event, e.what());
    } catch (...) {
      interceptor_failed(event, "an exception not derived from std::exception");
    }
  }

  const std::shared_ptr<Clock> clock_;
  const std::vector<std::shared_ptr<Interceptor>> interceptors_;
  const Logger log_;
  mutable LogThrottle interceptor_errors_;
};

}  // namespace switchyard::detail
