// Recorder: the contract is in include/switchyard/testing/recorder.hpp.
//
// State: the events under one mutex, and `recorded` (how many were ever added, an atomic) with
// the `EventCount` an await parks on. A hook appends under the mutex, then bumps `recorded`
// and notifies; an await reads `recorded`, checks its condition under the mutex, and parks with
// "recorded moved" as its done() check — the event count's protocol makes a hook between the
// check and the sleep impossible to miss. The await parks through `IdleWait::park`, so the
// clock sees it as a blocked call (virtual time counts it as blocked).
#include "switchyard/testing/recorder.hpp"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "switchyard/delivery.hpp"
#include "switchyard/detail/deadline.hpp"
#include "switchyard/record.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"
#include "sync/mutex.hpp"

namespace switchyard::testing {

using detail::EventCount;
using detail::IdleWait;
using detail::Mutex;
using detail::MutexLock;

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::sent:
      return "sent";
    case EventKind::received:
      return "received";
    case EventKind::polled:
      return "polled";
    case EventKind::delivered:
      return "delivered";
    case EventKind::dropped:
      return "dropped";
    case EventKind::acked:
      return "acked";
    case EventKind::nacked:
      return "nacked";
    case EventKind::rejected:
      return "rejected";
    case EventKind::redelivered:
      return "redelivered";
    case EventKind::expired:
      return "expired";
    case EventKind::dead_lettered:
      return "dead_lettered";
    case EventKind::committed:
      return "committed";
  }
  return "unknown";
}

std::string describe(const Event& event, TimePoint origin) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(event.at - origin);
  std::string line = "+" + std::to_string(ms.count()) + "ms " + std::string(to_string(event.kind)) +
                     " " + event.destination;
  if (event.message) line += " #" + std::to_string(event.id());
  if (event.attempt != 0) line += " attempt " + std::to_string(event.attempt);
  if (event.kind == EventKind::dead_lettered) {
    line += " -> " + (event.detail.empty() ? std::string("(dropped)") : event.detail) + " (" +
            event.reason + ")";
  } else if (!event.detail.empty()) {
    line += " (" + event.detail + ")";
  }
  return line;
}

struct Recorder::State {
  std::shared_ptr<const Clock> clock;
  mutable Mutex mutex;
  std::vector<Event> events GUARDED_BY(mutex);
  std::uint64_t next_sequence GUARDED_BY(mutex) = 0;
  std::atomic<std::uint64_t> recorded{0};
  mutable EventCount added;

  static bool matches(const Event& e, EventKind kind, std::string_view destination) {
    if (e.kind != kind) return false;
    if (destination.empty() || e.destination == destination) return true;
    return kind == EventKind::dead_lettered && e.detail == destination;
  }

  std::string trace_locked(std::size_t last) const REQUIRES(mutex) {
    std::string out;
    if (events.empty()) return "  (no events recorded)\n";
    const TimePoint origin = events.front().at;
    const std::size_t from = events.size() > last ? events.size() - last : 0;
    if (from > 0) out += "  ... " + std::to_string(from) + " earlier events\n";
    for (std::size_t i = from; i < events.size(); ++i)
      out += "  " + describe(events[i], origin) + "\n";
    return out;
  }
};

Recorder::Recorder(std::shared_ptr<const Clock> clock) : state_(std::make_unique<State>()) {
  state_->clock = clock ? std::move(clock) : std::shared_ptr<const Clock>(SystemClock::instance());
}

Recorder::~Recorder() = default;

void Recorder::add(Event event) {
  event.at = state_->clock->now();
  {
    MutexLock lock(state_->mutex);
    event.sequence = state_->next_sequence++;
    state_->events.push_back(std::move(event));
  }
  // Release: an await that reads the new count (acquire) then takes the mutex anyway.
  state_->recorded.fetch_add(1, std::memory_order_release);
  state_->added.notify_all();
}

std::vector<Event> Recorder::events() const {
  MutexLock lock(state_->mutex);
  return state_->events;
}

std::vector<Event> Recorder::events(EventKind kind, std::string_view destination) const {
  MutexLock lock(state_->mutex);
  std::vector<Event> out;
  for (const Event& e : state_->events) {
    if (State::matches(e, kind, destination)) out.push_back(e);
  }
  return out;
}

std::size_t Recorder::count(EventKind kind, std::string_view destination) const {
  MutexLock lock(state_->mutex);
  return static_cast<std::size_t>(
      std::count_if(state_->events.begin(), state_->events.end(),
                    [&](const Event& e) { return State::matches(e, kind, destination); }));
}

std::vector<Event> Recorder::committed(std::string_view topic, std::string_view group) const {
  MutexLock lock(state_->mutex);
  std::vector<Event> out;
  for (const Event& e : state_->events) {
    if (State::matches(e, EventKind::committed, topic) && (group.empty() || e.group == group)) {
      out.push_back(e);
    }
  }
  return out;
}

Awaited Recorder::await_committed(std::string_view topic, std::string_view group,
                                  std::uint32_t partition, std::uint64_t offset,
                                  Duration timeout) const {
  const std::string what =
      "a commit of offset " + std::to_string(offset) + " or later on '" + std::string(topic) +
      "' partition " + std::to_string(partition) +
      (group.empty() ? std::string(" (any group)") : " by group '" + std::string(group) + "'");
  return await(
      what,
      [&](const std::vector<Event>& events) {
        return std::any_of(events.begin(), events.end(), [&](const Event& e) {
          return State::matches(e, EventKind::committed, topic) &&
                 (group.empty() || e.group == group) && e.partition == partition &&
                 e.offset >= offset;
        });
      },
      timeout);
}

std::vector<Event> Recorder::journey(MessageId id) const {
  MutexLock lock(state_->mutex);
  std::vector<Event> out;
  for (const Event& e : state_->events) {
    if (e.message && e.id() == id) out.push_back(e);
  }
  return out;
}

std::string Recorder::trace(std::size_t last) const {
  MutexLock lock(state_->mutex);
  return state_->trace_locked(last);
}

void Recorder::clear() {
  MutexLock lock(state_->mutex);
  state_->events.clear();
}

Awaited Recorder::await(EventKind kind, std::string_view destination, std::size_t count,
                        Duration timeout) const {
  const std::string what = std::to_string(count) + " " + std::string(to_string(kind)) +
                           (destination.empty() ? std::string(" (any destination)")
                                                : " on '" + std::string(destination) + "'");
  std::size_t seen = 0;
  Awaited result = await(
      what,
      [&](const std::vector<Event>& events) {
        seen = static_cast<std::size_t>(
            std::count_if(events.begin(), events.end(),
                          [&](const Event& e) { return State::matches(e, kind, destination); }));
        return seen >= count;
      },
      timeout);
  if (!result) {
    result.message =
        "expected " + what + " within " +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
        " ms; saw " + std::to_string(seen) + ". Recent trace:\n" + trace();
  }
  return result;
}

Awaited Recorder::await(std::string_view what,
                        const std::function<bool(const std::vector<Event>&)>& predicate,
                        Duration timeout) const {
  const Clock& clock = *state_->clock;
  TimePoint now = clock.now();
  const TimePoint deadline = detail::deadline_after(now, std::max(timeout, Duration{0}));
  for (;;) {
    // Acquire: pairs with add's release increment.
    const std::uint64_t before = state_->recorded.load(std::memory_order_acquire);
    {
      MutexLock lock(state_->mutex);
      if (predicate(state_->events)) return Awaited{true, {}};
    }
    if (now >= deadline) {
      return Awaited{
          false, "expected " + std::string(what) + " within " +
                     std::to_string(
                         std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                     " ms; not seen. Recent trace:\n" + trace()};
    }
    IdleWait::park(
        state_->added,
        [&]() noexcept { return state_->recorded.load(std::memory_order_acquire) != before; }, now,
        deadline, clock);
    now = clock.now();
  }
}

void Recorder::on_send(std::string_view destination, Headers& headers) {
  Event e;
  e.kind = EventKind::sent;
  e.destination = destination;
  e.headers = headers;
  add(std::move(e));
}

namespace {
Event of(EventKind kind, std::string_view destination, const Message& message,
         std::uint32_t attempt = 0, std::string detail = {}) {
  Event e;
  e.kind = kind;
  e.destination = destination;
  e.message = message;
  e.headers = message.headers();
  e.attempt = attempt;
  e.detail = std::move(detail);
  return e;
}
}  // namespace

void Recorder::on_receive(std::string_view queue, const Delivery& delivery) {
  add(of(EventKind::received, queue, delivery.message(), delivery.attempt()));
}
namespace {
std::string position(std::string_view group, std::uint32_t partition, std::uint64_t offset) {
  return std::string(group) + "/" + std::to_string(partition) + "@" + std::to_string(offset);
}
}  // namespace

void Recorder::on_poll(std::string_view topic, std::string_view group, const Record& record) {
  Event e = of(EventKind::polled, topic, record.message, 0,
               position(group, record.partition, record.offset));
  e.group = group;
  e.partition = record.partition;
  e.offset = record.offset;
  add(std::move(e));
}
void Recorder::on_commit(std::string_view topic, std::string_view group, std::uint32_t partition,
                         std::uint64_t offset) {
  Event e;
  e.kind = EventKind::committed;
  e.destination = topic;
  e.detail = position(group, partition, offset);
  e.group = group;
  e.partition = partition;
  e.offset = offset;
  add(std::move(e));
}
void Recorder::on_deliver(std::string_view channel, const Message& message) {
  add(of(EventKind::delivered, channel, message));
}
void Recorder::on_drop(std::string_view channel, const Message& message) {
  add(of(EventKind::dropped, channel, message));
}
void Recorder::on_ack(std::string_view queue, const Message& message, std::uint32_t attempt) {
  add(of(EventKind::acked, queue, message, attempt));
}
void Recorder::on_nack(std::string_view queue, const Message& message, std::uint32_t attempt) {
  add(of(EventKind::nacked, queue, message, attempt));
}
void Recorder::on_reject(std::string_view queue, const Message& message, std::uint32_t attempt,
                         std::string_view reason) {
  add(of(EventKind::rejected, queue, message, attempt, std::string(reason)));
}
void Recorder::on_redelivery(std::string_view queue, const Message& message, std::uint32_t attempt,
                             Redelivery why) {
  add(of(EventKind::redelivered, queue, message, attempt,
         why == Redelivery::visibility_timeout ? "visibility_timeout" : "consumer_closed"));
}
void Recorder::on_expire(std::string_view queue, const Message& message, std::uint32_t attempt) {
  add(of(EventKind::expired, queue, message, attempt));
}
void Recorder::on_dead_letter(std::string_view queue, const Message& message,
                              std::string_view reason, std::string_view dead_letter_queue) {
  Event e = of(EventKind::dead_lettered, queue, message, 0, std::string(dead_letter_queue));
  e.reason = reason;
  add(std::move(e));
}

}  // namespace switchyard::testing
