// Exchanges: bindings and routing. Design notes: src/route/exchange_state.hpp.
#include "route/exchange_state.hpp"
#include "route/remote_exchange.hpp"
#include "route/send_completion.hpp"

#include <algorithm>
#include <array>

namespace switchyard {

namespace detail {

namespace {

/// Exchanges being routed through on this thread, innermost last (cycle and depth guard).
constexpr std::size_t kMaxRoutingDepth = 8;
thread_local std::array<const ExchangeState*, kMaxRoutingDepth> routing_path{};
thread_local std::size_t routing_depth = 0;
/// One scratch vector of targets per depth, reused: routing allocates nothing once warm.
thread_local std::array<std::vector<Destination*>, kMaxRoutingDepth> routing_targets;

}  // namespace

ExchangeState::ExchangeState(std::string name, ExchangeType type, ExchangeOptions options,
                             std::shared_ptr<Destination> alternate)
    : name_(std::move(name)),
      type_(type),
      options_(std::move(options)),
      alternate_(std::move(alternate)) {}

void ExchangeState::bind(std::shared_ptr<Destination> target, std::string_view key,
                         const BindOptions& options) {
  auto filter = HeaderFilter::parse(options.arguments);
  if (!filter) {
    throw Error(Errc::invalid_argument, "binding on exchange '" + name_ + "': " + filter.message());
  }
  Binding binding{std::move(target), std::string(key), options.arguments, std::move(*filter)};
  MutexLock lock(mutex_);
  auto same_key = by_key_.find(binding.key);
  if (same_key != by_key_.end()) {
    for (const std::uint32_t other : same_key->second) {
      const Binding& b = bindings_[other];
      if (b.target == binding.target && b.arguments == binding.arguments) {
        return;  // already bound: idempotent, like RabbitMQ
      }
    }
  } else {
    same_key = by_key_.try_emplace(binding.key).first;
  }
  std::uint32_t id = 0;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = static_cast<std::uint32_t>(bindings_.size());
    bindings_.emplace_back();
  }
  try {
    same_key->second.push_back(id);
    if (type_ == ExchangeType::topic) {
      if (auto bound = topics_.bind(key, id); !bound) {
        throw Error(bound.code(), "binding on exchange '" + name_ + "': " + bound.message());
      }
    }
  } catch (...) {  // a bad pattern or bad_alloc: the binding is not there, nor its slot
    if (!same_key->second.empty() && same_key->second.back() == id) same_key->second.pop_back();
    if (same_key->second.empty()) by_key_.erase(same_key);
    free_ids_.push_back(id);
    throw;
  }
  bindings_[id] = std::move(binding);
}

void ExchangeState::erase_locked(std::uint32_t id) {
  Binding& b = bindings_[id];
  if (type_ == ExchangeType::topic) topics_.unbind(b.key, id);
  if (auto it = by_key_.find(b.key); it != by_key_.end()) {
    std::erase(it->second, id);
    if (it->second.empty()) by_key_.erase(it);
  }
  b = Binding{};
  free_ids_.push_back(id);
}

bool ExchangeState::unbind(const Destination& target, std::string_view key) {
  MutexLock lock(mutex_);
  const auto same_key = by_key_.find(key);
  if (same_key == by_key_.end()) return false;
  std::vector<std::uint32_t> ids;
  for (const std::uint32_t id : same_key->second) {
    if (bindings_[id].target.get() == &target) ids.push_back(id);
  }
  for (const std::uint32_t id : ids) erase_locked(id);  // may erase same_key
  return !ids.empty();
}

void ExchangeState::unbind_all(const Destination& target) noexcept {
  MutexLock lock(mutex_);
  for (std::uint32_t id = 0; id < bindings_.size(); ++id) {
    if (bindings_[id].target.get() == &target) erase_locked(id);
  }
}

std::size_t ExchangeState::binding_count() const {
  SharedLock lock(mutex_);
  return bindings_.size() - free_ids_.size();
}

std::vector<ExchangeState::BindingView> ExchangeState::bindings() const {
  SharedLock lock(mutex_);
  std::vector<BindingView> out;
  for (const Binding& b : bindings_) {
    if (b.target) out.push_back({b.target, b.key, b.arguments});
  }
  return out;
}

bool ExchangeState::passes_filter(const Binding& binding, const Message& message) const noexcept {
  return binding.filter.matches(message.headers());
}

void ExchangeState::collect_locked(const Message& message, std::vector<Destination*>& out) const {
  out.clear();
  auto add = [&](std::uint32_t id) REQUIRES_SHARED(mutex_) {
    const Binding& b = bindings_[id];
    if (b.target && passes_filter(b, message)) out.push_back(b.target.get());
  };
  switch (type_) {
    case ExchangeType::direct:
      if (auto it = by_key_.find(message.key()); it != by_key_.end()) {
        for (std::uint32_t id : it->second) add(id);
      }
      break;
    case ExchangeType::topic: {
      thread_local std::vector<std::uint32_t> ids;
      topics_.match(message.key(), ids);
      for (std::uint32_t id : ids) add(id);
      break;
    }
    case ExchangeType::fanout:
    case ExchangeType::headers:
      // A headers binding with no arguments matches everything (x-match all of nothing).
      for (std::uint32_t id = 0; id < bindings_.size(); ++id) add(id);
      break;
  }
  // A destination gets one copy however many of its bindings matched.
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

Result<SendReceipt> ExchangeState::accept(Message&& message, const SendOptions& options) noexcept {
  if (closed_.load(std::memory_order_acquire)) return Result<SendReceipt>(Errc::closed);
  const MessageId id = message.id();
  for (std::size_t i = 0; i < routing_depth; ++i) {
    // A cycle of exchange bindings: this exchange already routed the message on this path.
    if (routing_path[i] == this) return SendReceipt{id, false};
  }
  if (routing_depth == kMaxRoutingDepth) {
    return Result<SendReceipt>(Errc::unroutable,
                               "exchange '" + name_ + "': more than 8 exchange-to-exchange hops");
  }
  const std::size_t depth = routing_depth;
  routing_path[depth] = this;
  ++routing_depth;
  struct Pop {
    ~Pop() { --routing_depth; }
  } pop;

  Result<SendReceipt> outcome = SendReceipt{id, false};
  // The send is reported once, by whoever called this exchange (send_completion.hpp).
  std::optional<SendOptions> spare;
  const SendOptions* const forwarded = without_completion(options, spare);
  if (forwarded == nullptr) return Result<SendReceipt>(Errc::out_of_memory);
  std::vector<Destination*>& targets = routing_targets[depth];
  {
    SharedLock lock(mutex_);
    try {
      collect_locked(message, targets);
    } catch (...) {
      return Result<SendReceipt>(Errc::out_of_memory);
    }
    if (!targets.empty()) {
      routed_.fetch_add(1, std::memory_order_relaxed);
      for (std::size_t i = 0; i < targets.size(); ++i) {
        Message copy = i + 1 == targets.size() ? std::move(message) : Message(message);
        auto accepted = targets[i]->accept(std::move(copy), *forwarded);
        if (accepted) {
          deliveries_.fetch_add(1, std::memory_order_relaxed);
        } else {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          if (outcome) outcome = std::move(accepted);  // report the first refusal
        }
      }
      return outcome;
    }
  }
  unroutable_.fetch_add(1, std::memory_order_relaxed);
  switch (options_.unroutable) {
    case Unroutable::drop:
      return outcome;
    case Unroutable::error:
      return Result<SendReceipt>(
          Errc::unroutable,
          "exchange '" + name_ + "' has no binding for key '" + std::string(message.key()) + "'");
    case Unroutable::alternate:
      return alternate_->accept(std::move(message), *forwarded);
  }
  return outcome;
}

void ExchangeState::close(bool /*drain*/) noexcept {
  closed_.store(true, std::memory_order_release);
}

ExchangeStats ExchangeState::stats() const {
  return {name(),
          routed_.load(std::memory_order_relaxed),
          deliveries_.load(std::memory_order_relaxed),
          unroutable_.load(std::memory_order_relaxed),
          rejected_.load(std::memory_order_relaxed),
          binding_count()};
}

}  // namespace detail

Exchange::Exchange(std::shared_ptr<detail::RemoteExchange> remote) noexcept
    : remote_(std::move(remote)) {}

const std::string& Exchange::name() const noexcept {
  return remote_ ? remote_->name() : state_->name();
}
ExchangeType Exchange::type() const noexcept {
  return remote_ ? remote_->type() : state_->type();
}
ExchangeStats Exchange::stats() const {
  return remote_ ? remote_->stats() : state_->stats();
}

}  // namespace switchyard
