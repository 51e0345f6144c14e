// switchyard/testing/durable_sandbox.hpp — a durable broker a test can restart: the flow goes on
// in a new broker on the same data directory, with the same options, clock and interceptors.
//
//   auto clock = std::make_shared<testing::VirtualClock>();
//   auto recorder = std::make_shared<testing::Recorder>(clock);
//   testing::DurableSandbox sandbox({.broker = {.clock = clock, .interceptors = {recorder}}});
//   sandbox.broker().declare_queue("orders", {.durability = Durability::always});
//   ... send, receive some ...
//   Broker& broker = sandbox.restart();   // what was accepted is there; what was acked is not
//
// `restart` destroys the broker (`shutdown(Shutdown::stop)`: its durable destinations close
// their files; what a crash would lose is a matter for the storage tests, not this) and
// constructs a new one from the same `BrokerOptions`, which re-declares the durable
// destinations, exchanges and bindings found in the directory. Producers, consumers, deliveries,
// group consumers and `Dispatcher`s of the old broker are closed with it: they may still be in
// scope, what they do gets `Errc::closed` and reaches no file. Make new ones from the new broker.
// (A `Transaction` of the old broker still alive keeps the directory locked: the restart then
// fails with `Errc::locked`.) The clock and the interceptors are the same objects, so a
// `Recorder` keeps one trace across restarts and virtual time goes on from where it was.
//
// Data structures: the options, the directory (made under the system's temporary directory
// when none is given, and removed with the sandbox) and the current broker.
// Threading: not thread-safe; one thread (the test's) drives it. `restart` must not race with
// other threads using the broker.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "switchyard/broker.hpp"
#include "switchyard/export.hpp"

namespace switchyard::testing {

class SWITCHYARD_EXPORT DurableSandbox {
 public:
  struct Options {
    /// Options of every broker the sandbox opens. `data_dir` empty: a fresh directory under
    /// std::filesystem::temp_directory_path(), removed by the destructor (one given is kept).
    BrokerOptions broker{};
  };

  /// Opens the first broker. Throws what `Broker`'s constructor throws, or
  /// std::filesystem::filesystem_error when the directory cannot be made.
  DurableSandbox();
  explicit DurableSandbox(Options options);
  /// Destroys the broker, then removes the directory if the sandbox made it.
  ~DurableSandbox();
  DurableSandbox(const DurableSandbox&) = delete;
  DurableSandbox& operator=(const DurableSandbox&) = delete;

  /// The current broker (a new object after each `restart`). Throws `Error(Errc::closed)` after
  /// a failed `restart`.
  [[nodiscard]] Broker& broker();
  [[nodiscard]] const std::filesystem::path& data_dir() const noexcept {
    return options_.broker.data_dir;
  }
  /// Destroys the broker and opens a new one on the same directory with the same options;
  /// returns it. Throws what `Broker`'s constructor throws (e.g. `Errc::corrupt` on damaged
  /// data without `salvage`); the sandbox then has no broker until a `restart` succeeds.
  Broker& restart();
  /// How many restarts have succeeded.
  [[nodiscard]] std::uint32_t restarts() const noexcept { return restarts_; }

 private:
  Options options_;
  bool made_dir_ = false;
  std::unique_ptr<Broker> broker_;
  std::uint32_t restarts_ = 0;
};

}  // namespace switchyard::testing
