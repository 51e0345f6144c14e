// switchyard/testing/recorder.hpp — what happened in a flow: every event a broker's interceptor
// hooks see, in order, with destination, message, attempt and (virtual) time; queries over it,
// and bounded awaits whose failure says what was expected, what was seen, and the recent trace.
//
// MassTransit's test harness (Sent / Consumed / Published) and Spring's OutputDestination, over
// our interceptor hooks (switchyard/interceptor.hpp): a `Recorder` *is* an `Interceptor`. Give
// it to `BrokerOptions::interceptors` and to nothing else (it records group commits too:
// `committed(topic, group)`):
//
//   auto clock = std::make_shared<testing::VirtualClock>();
//   auto recorder = std::make_shared<testing::Recorder>(clock);
//   Broker broker({.clock = clock, .interceptors = {recorder}});
//   ... run the flow ...
//   assert(recorder->await_dead_lettered("email-failed"));   // any test framework
//   REQUIRE(recorder->sent("orders").size() == 3);
//
// An await blocks like a receive does — through the clock's wait (src/sync/idle_wait.hpp) — so
// under a `VirtualClock` it counts as blocked: "await for 30s" returns at once in virtual time
// when the flow is stuck, and its failure message prints the trace.
//
// Threading: hooks run on broker threads, queries and awaits on any thread; all of it is
// thread-safe (one mutex). Queries return copies (a snapshot). Events are kept until `clear()`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/export.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/interceptor.hpp"
#include "switchyard/message.hpp"

namespace switchyard::testing {

/// What a recorded event is: one per interceptor hook.
enum class EventKind : std::uint8_t {
  sent,           ///< on_send: a producer or publisher sent to `destination` (no message yet)
  received,       ///< on_receive: a queue delivery handed to a consumer
  polled,         ///< on_poll: a record returned by a group member's poll
  delivered,      ///< on_deliver: a pub/sub message handed to a subscription's handler
  dropped,        ///< on_drop: a pub/sub message a full subscription dropped
  acked,          ///< on_ack
  nacked,         ///< on_nack
  rejected,       ///< on_reject
  redelivered,    ///< on_redelivery
  expired,        ///< on_expire
  dead_lettered,  ///< on_dead_letter
  committed,      ///< on_commit: a group member committed an offset of a topic's partition
};
[[nodiscard]] SWITCHYARD_EXPORT std::string_view to_string(EventKind kind) noexcept;

/// One recorded event.
struct Event {
  std::uint64_t sequence = 0;  ///< 0, 1, 2, … in recording order
  EventKind kind = EventKind::sent;
  /// The queue, topic, exchange or channel of the hook (for `dead_lettered`, the queue the
  /// message left).
  std::string destination;
  /// The message (shares its body with the broker's; empty for `sent`).
  Message message;
  /// For `sent`, the headers the send carried; otherwise the message's.
  Headers headers;
  std::uint32_t attempt = 0;  ///< queue events: 1 for a first delivery
  /// `dead_lettered`: the dead-letter queue (empty: dropped); `rejected`: the reason;
  /// `redelivered`: "visibility_timeout" / "consumer_closed"; `polled` and `committed`:
  /// "group/partition@offset".
  std::string detail;
  std::string reason;  ///< `dead_lettered`: the `x-death-reason`
  TimePoint at{};      ///< the clock's time when it was recorded
  /// `polled` and `committed`: the group, the partition, and the record's offset (`polled`) or
  /// the committed one — the next to read (`committed`; no message).
  std::string group;
  std::uint32_t partition = 0;
  std::uint64_t offset = 0;
  [[nodiscard]] MessageId id() const noexcept { return message ? message.id() : 0; }
};

/// One line per event ("+5000ms dead_lettered jobs #3 attempt 6 -> failed (max_deliveries)").
[[nodiscard]] SWITCHYARD_EXPORT std::string describe(const Event& event, TimePoint origin);

/// The outcome of an await: true when it was met; otherwise `message` says what was expected,
/// what was seen, and shows the recent trace. Testable with any framework:
/// `assert(r.await_acked("q"))`, `REQUIRE(r.await_acked("q"))` (testing/catch.hpp prints it).
struct Awaited {
  bool met = false;
  std::string message;
  explicit operator bool() const noexcept { return met; }
};

class SWITCHYARD_EXPORT Recorder final : public Interceptor {
 public:
  /// `clock`: the broker's (times of events, and awaits wait by it); null: the system clock.
  explicit Recorder(std::shared_ptr<const Clock> clock = nullptr);
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /// Every event so far, in order (a snapshot).
  [[nodiscard]] std::vector<Event> events() const;
  /// The events of `kind` on `destination` (empty: any). For `dead_lettered`, `destination`
  /// matches the queue the message left or the dead-letter queue it went to.
  [[nodiscard]] std::vector<Event> events(EventKind kind, std::string_view destination = {}) const;
  [[nodiscard]] std::size_t count(EventKind kind, std::string_view destination = {}) const;
  [[nodiscard]] std::vector<Event> sent(std::string_view destination = {}) const {
    return events(EventKind::sent, destination);
  }
  [[nodiscard]] std::vector<Event> received(std::string_view queue = {}) const {
    return events(EventKind::received, queue);
  }
  /// Processed: acked deliveries of `queue`.
  [[nodiscard]] std::vector<Event> consumed(std::string_view queue = {}) const {
    return events(EventKind::acked, queue);
  }
  [[nodiscard]] std::vector<Event> dead_lettered(std::string_view queue = {}) const {
    return events(EventKind::dead_lettered, queue);
  }
  [[nodiscard]] std::vector<Event> delivered(std::string_view channel = {}) const {
    return events(EventKind::delivered, channel);
  }
  /// The offsets `group` committed on `topic` (empty group: any group), in order: each event's
  /// `partition` and `offset` (the next offset to read).
  [[nodiscard]] std::vector<Event> committed(std::string_view topic,
                                             std::string_view group = {}) const;
  /// Every event of the message with id `id`, in order (its journey).
  [[nodiscard]] std::vector<Event> journey(MessageId id) const;
  /// The last `last` events, one line each (`describe`), times relative to the first event.
  [[nodiscard]] std::string trace(std::size_t last = 30) const;
  /// Forgets every event (sequence numbers go on).
  void clear();

  /// Waits until at least `count` events of `kind` on `destination` were recorded, at most
  /// `timeout` by the clock. Blocks the caller; under a VirtualClock it counts as blocked.
  [[nodiscard]] Awaited await(EventKind kind, std::string_view destination, std::size_t count = 1,
                              Duration timeout = std::chrono::seconds(30)) const;
  /// Waits until `predicate(events())` is true (`what` describes it in the failure message).
  [[nodiscard]] Awaited await(std::string_view what,
                              const std::function<bool(const std::vector<Event>&)>& predicate,
                              Duration timeout = std::chrono::seconds(30)) const;
  [[nodiscard]] Awaited await_sent(std::string_view destination, std::size_t count = 1,
                                   Duration timeout = std::chrono::seconds(30)) const {
    return await(EventKind::sent, destination, count, timeout);
  }
  [[nodiscard]] Awaited await_consumed(std::string_view queue, std::size_t count = 1,
                                       Duration timeout = std::chrono::seconds(30)) const {
    return await(EventKind::acked, queue, count, timeout);
  }
  [[nodiscard]] Awaited await_dead_lettered(std::string_view queue, std::size_t count = 1,
                                            Duration timeout = std::chrono::seconds(30)) const {
    return await(EventKind::dead_lettered, queue, count, timeout);
  }
  /// Waits until `group` (empty: any) has committed at least `offset` on `partition` of `topic`.
  [[nodiscard]] Awaited await_committed(std::string_view topic, std::string_view group,
                                        std::uint32_t partition, std::uint64_t offset,
                                        Duration timeout = std::chrono::seconds(30)) const;
  [[nodiscard]] Awaited await_delivered(std::string_view channel, std::size_t count = 1,
                                        Duration timeout = std::chrono::seconds(30)) const {
    return await(EventKind::delivered, channel, count, timeout);
  }

  // The interceptor hooks (switchyard/interceptor.hpp): each records one event.
  void on_send(std::string_view destination, Headers& headers) override;
  void on_receive(std::string_view queue, const Delivery& delivery) override;
  void on_poll(std::string_view topic, std::string_view group, const Record& record) override;
  void on_deliver(std::string_view channel, const Message& message) override;
  void on_drop(std::string_view channel, const Message& message) override;
  void on_ack(std::string_view queue, const Message& message, std::uint32_t attempt) override;
  void on_nack(std::string_view queue, const Message& message, std::uint32_t attempt) override;
  void on_reject(std::string_view queue, const Message& message, std::uint32_t attempt,
                 std::string_view reason) override;
  void on_redelivery(std::string_view queue, const Message& message, std::uint32_t attempt,
                     Redelivery why) override;
  void on_expire(std::string_view queue, const Message& message, std::uint32_t attempt) override;
  void on_dead_letter(std::string_view queue, const Message& message, std::string_view reason,
                      std::string_view dead_letter_queue) override;
  void on_commit(std::string_view topic, std::string_view group, std::uint32_t partition,
                 std::uint64_t offset) override;

 private:
  struct State;
  void add(Event event);
  std::unique_ptr<State> state_;
};

}  // namespace switchyard::testing
