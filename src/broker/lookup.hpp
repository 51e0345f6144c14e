// src/broker/lookup.hpp — the one home of the checks every declare, look-up and report of the
// Broker makes: a destination's name, a destination of a given kind by name, every
// destination of a kind, and the error a declare throws when memory runs out.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "queue/queue_state.hpp"
#include "queue/remote_queue.hpp"
#include "route/destination.hpp"
#include "route/exchange_state.hpp"
#include "route/registry.hpp"
#include "route/remote_exchange.hpp"
#include "switchyard/error.hpp"
#include "topic/topic_state.hpp"
#include "transport/remote_topic.hpp"

namespace switchyard::detail {

/// The kind of destination each state is, and the article its name takes in a message.
template <class State>
struct KindOf;
template <>
struct KindOf<QueueState> {
  static constexpr DestinationKind kKind = DestinationKind::queue;
  static constexpr const char* kNoun = "a queue";
};
template <>
struct KindOf<TopicState> {
  static constexpr DestinationKind kKind = DestinationKind::topic;
  static constexpr const char* kNoun = "a topic";
};
template <>
struct KindOf<RemoteTopic> {
  static constexpr DestinationKind kKind = DestinationKind::remote_topic;
  static constexpr const char* kNoun = "a remote topic";
};
template <>
struct KindOf<RemoteQueue> {
  static constexpr DestinationKind kKind = DestinationKind::remote_queue;
  static constexpr const char* kNoun = "a remote queue";
};
template <>
struct KindOf<RemoteExchange> {
  static constexpr DestinationKind kKind = DestinationKind::remote_exchange;
  static constexpr const char* kNoun = "a remote exchange";
};
template <>
struct KindOf<ExchangeState> {
  static constexpr DestinationKind kKind = DestinationKind::exchange;
  static constexpr const char* kNoun = "an exchange";
};

/// "a queue", "a topic", "an exchange": a kind as a message names it.
inline std::string with_article(DestinationKind kind) {
  return std::string(kind == DestinationKind::exchange ? "an " : "a ") + to_string(kind);
}

/// Throws `invalid_argument` unless `name` may name a destination (1 to 255 bytes).
inline void check_name(std::string_view name) {
  if (name.empty()) throw Error(Errc::invalid_argument, "destination name must not be empty");
  if (name.size() > 255) {
    throw Error(Errc::invalid_argument, "destination name longer than 255 bytes: '" +
                                            std::string(name.substr(0, 32)) + "...'");
  }
}

/// `d` (looked up as `name`) as a State; throws `unknown_destination` when it is null ("no
/// queue named 'x'") or of another kind ("'x' is a topic, not a queue").
template <class State>
State& as(Destination* d, std::string_view name) {
  if (d == nullptr) {
    throw Error(Errc::unknown_destination, "no " + std::string(to_string(KindOf<State>::kKind)) +
                                               " named '" + std::string(name) + "'");
  }
  if (d->kind() != KindOf<State>::kKind) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is " +
                                               with_article(d->kind()) + ", not " +
                                               KindOf<State>::kNoun);
  }
  return static_cast<State&>(*d);
}
template <class State>
std::shared_ptr<State> as(const std::shared_ptr<Destination>& d, std::string_view name) {
  as<State>(d.get(), name);
  return std::static_pointer_cast<State>(d);
}

/// `existing`, found when declaring `name` as a State, as a State; throws `option_mismatch`
/// ("'x' is already declared as a topic") when it is of another kind.
template <class State>
std::shared_ptr<State> redeclared_as(const std::shared_ptr<Destination>& existing,
                                     std::string_view name) {
  if (existing->kind() != KindOf<State>::kKind) {
    throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as " +
                                           with_article(existing->kind()));
  }
  return std::static_pointer_cast<State>(existing);
}

/// The State registered as `name`; throws as `as` does. @note threadsafe
template <class State>
std::shared_ptr<State> find_as(const Registry& registry, std::string_view name) {
  return as<State>(registry.find(name), name);
}

/// Every destination of State's kind, sorted by name. @note threadsafe (a snapshot)
template <class State>
std::vector<std::shared_ptr<State>> all_of(const Registry& registry) {
  std::vector<std::shared_ptr<State>> out;
  for (const auto& d : registry.all()) {
    if (d->kind() == KindOf<State>::kKind) out.push_back(std::static_pointer_cast<State>(d));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  return out;
}

/// The Error a declare (or a consumer's creation) throws when an allocation fails: always
/// Errc::out_of_memory, naming `what` and `name` when there is memory left to say so.
inline Error out_of_memory_error(std::string_view what, std::string_view name) noexcept {
  try {
    return Error(Errc::out_of_memory, std::string(what) + " '" + std::string(name) + "'");
  } catch (...) {
    return Error(Errc::out_of_memory, {});  // the code is what a caller tests
  }
}

}  // namespace switchyard::detail
