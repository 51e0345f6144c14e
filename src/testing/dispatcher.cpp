// Dispatcher: the contract is in include/switchyard/testing/dispatcher.hpp.
//
// One list of sources in registration order: a pull consumer with the deliveries it received and
// no handler has seen yet (`ahead`: one held by a delay fault until its due time, or the first of
// a reordered pair), a group member with the records its last poll returned and no handler has
// seen yet, or a subscription whose broker thread appends to an inbox (the one piece of state
// shared with another thread: under its mutex). A queue source receives again only once `ahead`
// is empty, so a delay stalls that consumer's stream (in order) and not the queue's others.
// `step` tries the sources in a turn order — round robin from the last one that ran, or a
// permutation drawn from the seeded generator — and runs the first that has work.
#include "switchyard/testing/dispatcher.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "switchyard/delivery.hpp"
#include "switchyard/detail/deadline.hpp"
#include "switchyard/error.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/pubsub.hpp"

namespace switchyard::testing {

namespace {

/// Which faults are due for a delivery (see faults.hpp).
struct Injection {
  bool duplicate = false;
  bool lose_ack = false;
  bool crash = false;
  Duration delay{};                // > 0: held this long before its handler gets it
  std::size_t reorder = SIZE_MAX;  // the index of the reorder fault that hit, if one did
};

/// A delivery received and not yet handled.
struct Held {
  Delivery delivery;
  Injection fault;
  TimePoint due;  // when its handler may get it
};

struct QueueSource {
  std::string queue;
  ConsumerOptions options;
  Consumer consumer;
  Consumer::Handler handler;
  bool ordered = false;  // single_active_consumer: the queue's order is promised, never reorder
  std::uint64_t deliveries = 0;
  std::deque<Held> ahead{};
};

struct GroupSource {
  GroupConsumer member;
  std::function<void(const Record&)> handler;
  std::deque<Record> pending;
};

/// What a subscription's broker thread hands over.
struct Inbox {
  std::mutex mutex;
  std::deque<Message> messages;
};

struct ChannelSource {
  std::shared_ptr<Inbox> inbox;
  Subscription subscription;
  std::function<void(const Message&)> handler;
};

using Source = std::variant<QueueSource, GroupSource, ChannelSource>;

// After a handler returns, every broker thread has handled what the handler did (a publish
// reaches its subscription's thread) before the dispatcher settles or steps again: the trace
// does not depend on thread timing.
struct ActiveFault {
  Fault fault;
  std::uint32_t injected = 0;
};

/// The faults drawn for this delivery. `timing`: delay and reorder faults may hit it (not for the
/// delivery a reorder swaps in). A reorder is counted only once its swap happens (run_one).
Injection draw(std::vector<ActiveFault>& faults, const QueueSource& s, std::mt19937_64& random,
               std::uint64_t& count, bool timing) {
  Injection out;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    ActiveFault& f = faults[i];
    if (!f.fault.queue.empty() && f.fault.queue != s.queue) continue;
    if (f.injected >= f.fault.at_most) continue;
    const bool reordering = f.fault.kind == FaultKind::reorder;
    if (!timing && (reordering || f.fault.kind == FaultKind::delay)) continue;
    if (reordering && (s.ordered || out.reorder != SIZE_MAX)) continue;
    bool hit = f.fault.every != 0 && s.deliveries % f.fault.every == 0;
    if (!hit && f.fault.probability > 0) {
      hit = std::uniform_real_distribution<double>(0.0, 1.0)(random) < f.fault.probability;
    }
    if (!hit) continue;
    if (reordering) {
      out.reorder = i;
      continue;
    }
    ++f.injected;
    ++count;
    switch (f.fault.kind) {
      case FaultKind::duplicate_delivery:
        out.duplicate = true;
        break;
      case FaultKind::lose_ack:
        out.lose_ack = true;
        break;
      case FaultKind::crash_before_ack:
        out.crash = true;
        break;
      case FaultKind::delay:
        out.delay = std::max(out.delay, f.fault.delay);
        break;
      case FaultKind::reorder:    // above
      case FaultKind::fail_send:  // refused by inject
        break;
    }
  }
  return out;
}

/// What a queue source's step needs of the dispatcher.
struct QueueContext {
  VirtualClock& clock;
  Broker& broker;
  std::vector<ActiveFault>& faults;
  std::mt19937_64& random;
  std::uint64_t& injected;
};

/// Calls the handler with `delivery` and settles it, as `fault` says.
void handle(QueueSource& s, Delivery& delivery, const Injection& fault, QueueContext& c) {
  bool failed = false;
  // A duplicate is a second call before the dispatcher settles (skipped if the first settled).
  for (int call = 0; call < (fault.duplicate ? 2 : 1) && !failed && !delivery.settled(); ++call) {
    try {
      s.handler(delivery);
    } catch (...) {
      failed = true;
    }
    c.clock.wait_until_idle();
  }
  if (fault.crash) {
    // The consumer dies holding the delivery, and whatever it received that no handler saw yet:
    // close returns them to the queue (attempt + 1).
    s.ahead.clear();
    s.consumer.close();
    s.consumer = c.broker.consumer(s.queue, s.options);
    return;
  }
  if (fault.lose_ack) return;  // dropped unsettled: back after the visibility timeout
  if (!delivery.settled()) {
    // As a push worker does. A failed settle (a delivery held past its visibility timeout is
    // stale) leaves the delivery to the queue, which redelivers it.
    (void)(failed ? delivery.nack() : delivery.ack());
  }
}

/// A reorder may swap `first` and `second` unless they are of one message group (whose order
/// SQS FIFO promises). The queue already holds a group's next message back while one of it is
/// in flight, so this never refuses; it states the rule where the swap is made.
bool swappable(const Delivery& first, const Delivery& second) {
  const std::string_view group = first.message().group();
  return group.empty() || group != second.message().group();
}

bool run_one(QueueSource& s, QueueContext& c) {
  if (!s.ahead.empty()) {
    // Delayed: the consumer's stream is stalled behind it until it arrives.
    if (s.ahead.front().due > c.clock.now()) return false;
    Held held = std::move(s.ahead.front());
    s.ahead.pop_front();
    handle(s, held.delivery, held.fault, c);
    return true;
  }
  auto delivery = s.consumer.receive(Duration{0});
  if (!delivery) return false;
  ++s.deliveries;
  Injection fault = draw(c.faults, s, c.random, c.injected, true);
  if (fault.delay.count() > 0) {
    // No handler call now: the step goes on to the other sources; run_for moves time to `due`.
    s.ahead.push_back(
        Held{std::move(*delivery), fault, detail::deadline_after(c.clock.now(), fault.delay)});
    return false;
  }
  if (fault.reorder != SIZE_MAX) {
    auto next = s.consumer.receive(Duration{0});
    if (next) {
      ++s.deliveries;
      Injection next_fault = draw(c.faults, s, c.random, c.injected, false);
      if (swappable(*delivery, *next)) {
        ++c.faults[fault.reorder].injected;
        ++c.injected;
        s.ahead.push_front(Held{std::move(*delivery), fault, c.clock.now()});
        handle(s, *next, next_fault, c);
        return true;
      }
      s.ahead.push_front(Held{std::move(*next), next_fault, c.clock.now()});
    }
  }
  handle(s, *delivery, fault, c);
  return true;
}

bool run_one(GroupSource& s, VirtualClock& clock) {
  if (s.pending.empty()) {
    auto batch = s.member.poll(64, Duration{0});
    if (batch) {
      for (const Record& r : *batch) s.pending.push_back(r);
    }
  }
  if (s.pending.empty()) return false;
  const Record record = std::move(s.pending.front());
  s.pending.pop_front();
  s.handler(record);
  clock.wait_until_idle();
  // A commit refused after a rebalance (not_owner) is what Kafka's would be: the record's new
  // owner reads it again. Nothing else can fail for an in-memory topic.
  (void)s.member.commit(record.partition, record.offset + 1);
  return true;
}

bool run_one(ChannelSource& s, VirtualClock& clock) {
  Message message;
  {
    const std::lock_guard lock(s.inbox->mutex);
    if (s.inbox->messages.empty()) return false;
    message = std::move(s.inbox->messages.front());
    s.inbox->messages.pop_front();
  }
  s.handler(message);
  clock.wait_until_idle();
  return true;
}

}  // namespace

struct Dispatcher::State {
  Broker& broker;
  std::shared_ptr<VirtualClock> clock;
  Options options;
  std::mt19937_64 random;
  std::vector<Source> sources;
  std::size_t next = 0;  // round robin: the source tried first
  std::uint64_t steps = 0;
  std::vector<ActiveFault> faults{};
  std::uint64_t injected = 0;
};

Dispatcher::Dispatcher(Broker& broker, std::shared_ptr<VirtualClock> clock)
    : Dispatcher(broker, std::move(clock), Options{}) {}

Dispatcher::Dispatcher(Broker& broker, std::shared_ptr<VirtualClock> clock, Options options)
    : state_(
          new State{broker, std::move(clock), options, std::mt19937_64(options.seed), {}, 0, 0}) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::consume(std::string_view queue, Consumer::Handler handler,
                         const ConsumerOptions& options) {
  Consumer consumer = state_->broker.consumer(queue, options);
  const bool ordered = state_->broker.queue(queue).options().single_active_consumer;
  state_->sources.emplace_back(
      QueueSource{std::string(queue), options, std::move(consumer), std::move(handler), ordered});
}

void Dispatcher::consume(std::string_view topic, std::string_view group,
                         std::function<void(const Record&)> handler) {
  state_->sources.emplace_back(
      GroupSource{state_->broker.group_consumer(topic, group), std::move(handler), {}});
}

void Dispatcher::subscribe(std::string_view channel, std::function<void(const Message&)> handler) {
  auto inbox = std::make_shared<Inbox>();
  auto subscription = state_->broker.subscribe(channel, [inbox](const Message& m) {
    const std::lock_guard lock(inbox->mutex);
    inbox->messages.push_back(m);
  });
  state_->sources.emplace_back(ChannelSource{inbox, std::move(subscription), std::move(handler)});
}

bool Dispatcher::step() {
  State& s = *state_;
  if (s.sources.empty()) return false;
  s.clock->wait_until_idle();  // every broker thread has handed over what it had
  std::vector<std::size_t> order(s.sources.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (s.options.seed != 0) {
    std::shuffle(order.begin(), order.end(), s.random);
  } else {
    std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(s.next % order.size()),
                order.end());
  }
  for (std::size_t i : order) {
    if (std::visit(
            [&](auto& source) {
              if constexpr (std::is_same_v<std::decay_t<decltype(source)>, QueueSource>) {
                QueueContext context{*s.clock, s.broker, s.faults, s.random, s.injected};
                return run_one(source, context);
              } else {
                return run_one(source, *s.clock);
              }
            },
            s.sources[i])) {
      s.next = i + 1;
      ++s.steps;
      return true;
    }
  }
  return false;
}

std::size_t Dispatcher::run_until_idle(std::size_t max_steps) {
  std::size_t n = 0;
  while (n < max_steps && step()) ++n;
  return n;
}

std::size_t Dispatcher::run_for(Duration d) {
  State& s = *state_;
  const TimePoint target = detail::deadline_after(s.clock->now(), std::max(d, Duration{0}));
  std::size_t n = run_until_idle();
  while (s.clock->now() < target) {
    Duration until = target - s.clock->now();
    for (const Source& source : s.sources) {
      if (const auto* q = std::get_if<QueueSource>(&source)) {
        const Duration wait = q->consumer.ready_timeout();
        if (wait.count() > 0) until = std::min(until, wait);
        // A delayed delivery arrives at its due time (received: the queue no longer counts it).
        if (!q->ahead.empty() && q->ahead.front().due > s.clock->now()) {
          until = std::min(until, q->ahead.front().due - s.clock->now());
        }
      }
    }
    (void)s.clock->advance(until);
    n += run_until_idle();
  }
  return n;
}

void Dispatcher::inject(Fault fault) {
  if (!(fault.probability >= 0.0 && fault.probability <= 1.0)) {
    throw Error(Errc::invalid_argument, "a fault's probability is between 0 and 1");
  }
  if (fault.kind == FaultKind::delay && fault.delay.count() <= 0) {
    throw Error(Errc::invalid_argument, "a delay fault needs a delay above 0");
  }
  if (fault.kind == FaultKind::fail_send) {
    // Sends are the code under test's, not the dispatcher's: they fail in the interceptor chain.
    throw Error(Errc::invalid_argument,
                "fail_send is a SendFaults fault (an interceptor in BrokerOptions::interceptors)");
  }
  state_->faults.push_back(ActiveFault{std::move(fault), 0});
}

std::uint64_t Dispatcher::faults_injected() const noexcept {
  return state_->injected;
}

std::uint64_t Dispatcher::steps() const noexcept {
  return state_->steps;
}

}  // namespace switchyard::testing
