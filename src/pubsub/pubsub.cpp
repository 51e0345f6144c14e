// Ephemeral pub/sub: the hub's copy-on-write registry and each subscriber's dispatch loop.
#include "pubsub/pubsub_hub.hpp"
#include "switchyard/detail/deadline.hpp"

#include <algorithm>

#include "match/glob.hpp"
#include "sync/broker_thread.hpp"
#include "sync/capacity_gate.hpp"
#include "sync/idle_wait.hpp"

namespace switchyard {

namespace detail {

SubscriptionState::SubscriptionState(std::uint64_t id, std::string channel, bool pattern,
                                     Subscription::Handler handler, SubscriberOptions options,
                                     std::shared_ptr<Clock> clock,
                                     std::shared_ptr<const Hooks> hooks)
    : id_(id),
      channel_(std::move(channel)),
      pattern_(pattern),
      handler_(std::move(handler)),
      options_(options),
      clock_(std::move(clock)),
      hooks_(std::move(hooks)),
      buffer_(options.buffer) {}

SubscriptionState::~SubscriptionState() {
  // The dispatch thread holds a reference to us, so by now it has finished (or was detached
  // and has returned): nothing left to join.
  if (thread_.joinable()) thread_.detach();
}

void SubscriptionState::start(std::weak_ptr<PubSubHub> hub) {
  MutexLock lock(lifecycle_);
  hub_ = std::move(hub);
  thread_ = start_thread(clock_, [self = shared_from_this()] { self->dispatch(); });
}

bool SubscriptionState::offer(const Message& message) noexcept {
  if (closed_.load(std::memory_order_acquire)) return false;
  using Push = SpillRing<Message>::Push;
  auto push = [&]() noexcept {
    switch (buffer_.try_push_within(Message(message), options_.buffer)) {
      case Push::done:
        return Room::taken;
      case Push::full:
        return Room::full;
      case Push::out_of_memory:
        break;
    }
    // Out of memory for the spill: dropped and counted, as for a full buffer under `drop`.
    return Room::unavailable;
  };
  Room room = push();
  if (room == Room::full) {
    GatedBuffer subscriber{push,
                           [this]() noexcept { return buffer_.size_guess() < options_.buffer; },
                           []() noexcept { return false; },  // SlowSubscriber has no drop-oldest
                           [this]() noexcept { return closed_.load(std::memory_order_acquire); }};
    const bool block = options_.when_full == SlowSubscriber::block;
    const TimePoint deadline =
        block ? detail::deadline_after(clock_->now(), options_.block_timeout) : TimePoint{};
    if (pass_capacity_gate(room, block ? WhenFull::block : WhenFull::reject, subscriber,
                           RoomWait{space_, *clock_, deadline})) {
      room = Room::taken;
    }
  }
  if (room == Room::taken) {
    ready_.notify_one();
    return true;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  if (hooks_->intercepting()) [[unlikely]] {
    hooks_->each("on_drop", [&](Interceptor& i) { i.on_drop(message.key(), message); });
  }
  if (hooks_->logging()) [[unlikely]]
    note_drop();
  return false;
}

void SubscriptionState::note_drop() noexcept {
  std::uint64_t n = 0;
  if (!hooks_->due(drop_log_, n)) return;
  hooks_->log().log(LogLevel::warning, "pubsub",
                    "subscription to '{}': {} message(s) dropped, its buffer of {} full (since "
                    "the last report; {} in all)",
                    channel_, n, options_.buffer, dropped_.load(std::memory_order_relaxed));
}

void SubscriptionState::handler_failed(std::string_view what) noexcept {
  std::uint64_t n = 0;
  if (!hooks_->due(handler_log_, n)) return;
  hooks_->log().log(LogLevel::error, "pubsub",
                    "subscription to '{}': the handler threw: {} ({} exception(s) since the last "
                    "report)",
                    channel_, what, n);
}

void SubscriptionState::dispatch() noexcept {
  Message message;
  IdleWait idle(WaitStrategy::park);
  while (!closed_.load(std::memory_order_acquire)) {
    if (buffer_.try_pop(message)) {
      space_.notify_one();
      if (hooks_->intercepting()) [[unlikely]] {
        hooks_->each("on_deliver", [&](Interceptor& i) { i.on_deliver(message.key(), message); });
      }
      try {
        handler_(message);
      } catch (const std::exception& e) {
        handler_errors_.fetch_add(1, std::memory_order_relaxed);
        handler_failed(e.what());
      } catch (...) {
        handler_errors_.fetch_add(1, std::memory_order_relaxed);
        handler_failed("an exception not derived from std::exception");
      }
      delivered_.fetch_add(1, std::memory_order_relaxed);
      message = Message();
      idle = IdleWait(WaitStrategy::park);  // busy again: the next idle spell starts over
      continue;
    }
    auto work = [this]() noexcept {
      return !buffer_.empty_guess() || closed_.load(std::memory_order_acquire);
    };
    if (idle.pause(work)) continue;
    // No deadline: every offer and the unsubscribe notify ready_; a second of real time is
    // only a backstop. Through the clock, so virtual time sees this thread idle.
    IdleWait::park(ready_, work, clock_->now(), TimePoint::max(), *clock_, std::chrono::seconds(1));
  }
}

void SubscriptionState::unsubscribe() noexcept {
  closed_.store(true, std::memory_order_release);
  std::thread thread;
  std::shared_ptr<PubSubHub> hub;
  {
    MutexLock lock(lifecycle_);
    thread = std::move(thread_);
    hub = hub_.lock();
    hub_.reset();
  }
  if (hub) hub->remove(this);
  ready_.notify_all();
  space_.notify_all();
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();  // called from our own handler: the loop ends when the handler returns
  } else {
    thread.join();
  }
}

SubscriptionStats SubscriptionState::stats() const noexcept {
  return {delivered_.load(std::memory_order_relaxed), dropped_.load(std::memory_order_relaxed),
          handler_errors_.load(std::memory_order_relaxed), buffer_.size_guess()};
}

std::shared_ptr<SubscriptionState> PubSubHub::subscribe(std::string_view channel, bool pattern,
                                                 Subscription::Handler handler,
                                                 SubscriberOptions options) {
  if (!handler) throw Error(Errc::invalid_argument, "subscribe needs a handler");
  if (options.buffer == 0) throw Error(Errc::invalid_argument, "subscriber buffer must be >= 1");
  if (options.block_timeout.count() < 0) {
    throw Error(Errc::invalid_argument, "subscriber block_timeout must not be negative");
  }
  std::shared_ptr<SubscriptionState> subscriber;
  {
    MutexLock lock(mutex_);
    if (closed_) throw Error(Errc::closed, "broker is shut down");
    subscriber = std::make_shared<SubscriptionState>(last_id_ + 1, std::string(channel), pattern,
                                                     std::move(handler), options, clock_, hooks_);
    auto next = std::make_shared<Snapshot>(*snapshot_);
    if (pattern) {
      next->patterns.push_back(subscriber);
    } else {
      next->channels[std::string(channel)].push_back(subscriber);
    }
    snapshot_ = std::move(next);
    ++last_id_;  // only once the subscription is listed: ids are never skipped
  }
  subscriber->start(weak_from_this());
  return subscriber;
}

void PubSubHub::remove(const SubscriptionState* subscriber) noexcept {
  try {
    MutexLock lock(mutex_);
    auto next = std::make_shared<Snapshot>(*snapshot_);
    auto drop = [&](std::vector<std::shared_ptr<SubscriptionState>>& list) {
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](const auto& s) { return s.get() == subscriber; }),
                 list.end());
    };
    if (subscriber->is_pattern()) {
      drop(next->patterns);
    } else if (auto it = next->channels.find(subscriber->channel()); it != next->channels.end()) {
      drop(it->second);
      if (it->second.empty()) next->channels.erase(it);
    }
    snapshot_ = std::move(next);
  } catch (...) {
    // Out of memory copying the registry: the subscriber is closed already, so publishes skip
    // it; it stays listed until the next successful change.
  }
}

std::size_t PubSubHub::publish(const Message& message) noexcept {
  const auto current = snapshot();
  const std::string_view channel = message.key();
  std::size_t receivers = 0;
  if (auto it = current->channels.find(channel); it != current->channels.end()) {
    for (const auto& subscriber : it->second) receivers += subscriber->offer(message);
  }
  for (const auto& subscriber : current->patterns) {
    if (glob_match(subscriber->channel(), channel)) receivers += subscriber->offer(message);
  }
  return receivers;
}

void PubSubHub::close() noexcept {
  std::shared_ptr<const Snapshot> last;
  {
    MutexLock lock(mutex_);
    closed_ = true;
    last = snapshot_;
  }
  for (const auto& [channel, list] : last->channels) {
    for (const auto& s : list) s->unsubscribe();
  }
  for (const auto& s : last->patterns) s->unsubscribe();
}

std::size_t PubSubHub::subscriptions() const {
  const auto current = snapshot();
  std::size_t n = current->patterns.size();
  for (const auto& [channel, list] : current->channels) n += list.size();
  return n;
}

std::vector<SubscriptionEntry> PubSubHub::stats() const {
  const auto current = snapshot();
  std::vector<SubscriptionEntry> out;
  auto add = [&](const SubscriptionState& s) {
    out.push_back({s.id(), s.channel(), s.is_pattern(), s.stats()});
  };
  for (const auto& [channel, list] : current->channels) {
    for (const auto& s : list) add(*s);
  }
  for (const auto& s : current->patterns) add(*s);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace detail

Subscription::Subscription(std::shared_ptr<detail::SubscriptionState> state) noexcept
    : state_(std::move(state)) {}
Subscription::Subscription(Subscription&&) noexcept = default;
Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    unsubscribe();
    state_ = std::move(other.state_);
  }
  return *this;
}
Subscription::~Subscription() {
  unsubscribe();
}

void Subscription::unsubscribe() noexcept {
  if (state_) state_->unsubscribe();
}
SubscriptionStats Subscription::stats() const noexcept {
  return state_ ? state_->stats() : SubscriptionStats{};
}
const std::string& Subscription::channel() const noexcept {
  return state_->channel();
}
bool Subscription::is_pattern() const noexcept {
  return state_ && state_->is_pattern();
}
bool Subscription::active() const noexcept {
  return state_ && state_->active();
}

}  // namespace switchyard
