// Shared helpers for switchyard's tests.
#pragma once

#include <switchyard/switchyard.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace switchyard::test {

using namespace std::chrono_literals;

/// A broker on a manual clock: time moves only when the test says so.
struct ManualBroker {
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  Broker broker{BrokerOptions{.clock = clock}};
  Producer producer = broker.producer();
};

/// Waits (yielding, bounded by real time) until `condition` holds. False on timeout, so a
/// test can REQUIRE it with a message instead of hanging.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

/// Counts its own constructions and destructions, to catch leaks and double destroys.
struct Tracked {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit Tracked(int v) : value(v) { live.fetch_add(1); }
  Tracked(const Tracked& o) : value(o.value) {
    live.fetch_add(1);
    copies.fetch_add(1);
  }
  Tracked(Tracked&& o) noexcept : value(o.value) { live.fetch_add(1); }
  ~Tracked() { live.fetch_sub(1); }
};

inline std::string text(const Delivery& d) {
  return std::string(d.payload().as_string());
}

/// The `switchyard::Error` that `f` throws, if it throws one.
inline std::optional<Error> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

/// The code of the `switchyard::Error` that `f` throws, or `Errc::ok` if it throws none.
inline Errc code_of(const std::function<void()>& f) {
  const auto error = error_of(f);
  return error ? error->code() : Errc::ok;
}

}  // namespace switchyard::test
