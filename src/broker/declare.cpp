// The Broker's declare, look-up and delete of every kind of destination, and the handles it
// makes (producers, consumers, group consumers). Lifecycle: broker.cpp.
#include <cmath>
#include <string>

#include "broker/lookup.hpp"
#include "broker/option_difference.hpp"
#include "broker/queue_lifetime.hpp"
#include "broker/recovery.hpp"
#include "broker/storage_context.hpp"
#include "queue/message_move.hpp"
#include "queue/queue_state.hpp"
#include "route/exchange_state.hpp"
#include "route/registry.hpp"
#include "storage/segment_log.hpp"
#include "switchyard/broker.hpp"
#include "topic/topic_state.hpp"
#include "transport/remote_topic.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace {

using detail::as;
using detail::check_name;
using detail::ExchangeState;
using detail::find_as;
using detail::QueueState;
using detail::TopicState;

void check_options(std::string_view name, const QueueOptions& options) {
  auto bad = [&](const std::string& what) {
    throw Error(Errc::invalid_argument, "queue '" + std::string(name) + "': " + what);
  };
  if (options.capacity == 0) bad("capacity must be at least 1");
  if (options.capacity > (std::size_t{1} << 32)) bad("capacity above 2^32");
  if (options.prefetch == 0) bad("prefetch must be at least 1");
  if (options.prefetch > (1u << 20)) bad("prefetch above 2^20");
  if (options.send_timeout.count() < 0) bad("send_timeout must not be negative");
  if (options.visibility_timeout.count() < 0) bad("visibility_timeout must not be negative");
  if (options.delay.count() < 0 || options.ttl.count() < 0)
    bad("delay and ttl must not be negative");
  if (options.dedup_window.count() < 0) bad("dedup_window must not be negative");
  const Backoff& backoff = options.retry_backoff;
  // Written so that NaN fails too: every comparison with NaN is false.
  if (!(backoff.multiplier >= 1.0) || !std::isfinite(backoff.multiplier)) {
    bad("retry_backoff.multiplier must be finite and >= 1");
  }
  if (backoff.initial.count() < 0 || backoff.max.count() < 0) {
    bad("retry_backoff.initial and .max must not be negative");
  }
  if (backoff.max < backoff.initial) bad("retry_backoff.max must not be below .initial");
  if (backoff.increment.count() < 0) bad("retry_backoff.increment must not be negative");
  if (backoff.delays.size() > 1024) bad("retry_backoff.delays holds at most 1024 delays");
  for (const Duration delay : backoff.delays) {
    if (delay.count() < 0 || delay > backoff.max) {
      bad("retry_backoff.delays must each be 0 to retry_backoff.max");
    }
  }
  if (!(backoff.jitter >= 0.0 && backoff.jitter <= 1.0)) bad("retry_backoff.jitter must be 0 to 1");
  if (options.dead_letter == name) bad("a queue cannot be its own dead-letter queue");
  if (options.dead_letter_routing_key.size() > 255) {
    bad("dead_letter_routing_key longer than 255 bytes (an AMQP short string)");
  }
  if (auto storage = detail::check_storage_options(options.storage); !storage) {
    bad(storage.message());
  }
  if (options.expires.count() < 0) bad("expires must not be negative");
  // RabbitMQ: exclusive queues are transient. (auto_delete and expires are kept in the catalog
  // of a durable queue: broker/queue_lifetime.hpp.)
  if (options.durability != Durability::memory && options.exclusive) {
    bad("an exclusive queue cannot be durable (it lives with its owner)");
  }
}

[[noreturn]] void throw_exclusive(std::string_view name, std::string_view what) {
  throw Error(Errc::locked, "queue '" + std::string(name) + "' is exclusive to the handle that " +
                                "declared it: cannot " + std::string(what));
}

using detail::unbind_everywhere;

void check_topic_options(std::string_view name, const TopicOptions& options) {
  auto bad = [&](const std::string& what) {
    throw Error(Errc::invalid_argument, "topic '" + std::string(name) + "': " + what);
  };
  if (options.partitions == 0) bad("partitions must be at least 1");
  if (options.partitions > detail::kMaxPartitions) bad("partitions above 65536");
  if (options.cleanup != Cleanup::delete_records && options.cleanup != Cleanup::compact &&
      options.cleanup != Cleanup::compact_delete) {
    bad("cleanup " + std::to_string(static_cast<int>(options.cleanup)) +
        " is none of delete_records, compact, compact_delete");
  }
  if (options.delete_retention.count() < 0) bad("delete_retention must not be negative");
  // A compacted topic is bounded by its keys; retention does not apply to `compact`.
  if (options.cleanup != Cleanup::compact && options.retention.records == 0 &&
      options.retention.bytes == 0) {
    bad("retention must bound records or bytes (both are 0: memory would be unbounded)");
  }
  if (options.retention.age.count() < 0) bad("retention age must not be negative");
  if (options.dedup_window.count() < 0) bad("dedup_window must not be negative");
  if (auto storage = detail::check_storage_options(options.storage); !storage) {
    bad(storage.message());
  }
}

/// Declares `name` on a transport (transport/remote_topic.hpp, queue/remote_queue.hpp,
/// route/remote_exchange.hpp): `open()` opens it there — before the registry's lock is taken,
/// since it talks to the server; a racing declare of the same name keeps the first one
/// registered, and this one is closed unused. A re-declare must agree with the first:
/// `differs(existing)` names the first option that does not ("" when all agree).
template <class Remote, class Open, class Differs>
std::shared_ptr<Remote> declare_remote(detail::Registry& registry, std::string_view name,
                                       const char* noun, Open open, Differs differs) {
  std::shared_ptr<detail::Destination> opened;
  if (!registry.find(name)) opened = open();
  bool inserted = false;
  auto destination = registry.find_or_insert(
      name,
      [&]() -> std::shared_ptr<detail::Destination> {
        if (!opened) opened = open();
        return opened;
      },
      inserted);
  if (!inserted && opened) opened->close(false);
  auto existing = detail::redeclared_as<Remote>(destination, name);
  if (!inserted) {
    if (const std::string d = differs(*existing); !d.empty()) {
      throw Error(Errc::option_mismatch,
                  std::string(noun) + " '" + std::string(name) + "' already declared with " + d);
    }
  }
  return existing;
}

}  // namespace

Queue Broker::declare_queue(std::string_view name, const QueueOptions& options) try {
  check_name(name);
  check_options(name, options);
  if (options.transport) {
    // Its dead-letter exchange is the server's (x-dead-letter-exchange), not one of ours.
    return detail::Access::make<Queue>(declare_remote<detail::RemoteQueue>(
        *registry_, name, "queue",
        [&] {
          return detail::Access::open_queue(*options.transport, name, options,
                                            registry_->clock(), registry_->hooks());
        },
        [&](const detail::RemoteQueue& q) {
          return detail::option_difference(q.options(), options);
        }));
  }
  std::shared_ptr<detail::Destination> dead_letter;
  if (!options.dead_letter.empty()) {
    // RabbitMQ's x-dead-letter-exchange, or a queue directly (SQS's redrive policy).
    dead_letter = registry_->find(options.dead_letter);
    if (!dead_letter) {
      throw Error(Errc::unknown_destination,
                  "queue '" + std::string(name) + "': dead-letter destination '" +
                      options.dead_letter +
                      "' is not declared (declare the queue or exchange first)");
    }
    if (dead_letter->kind() == detail::DestinationKind::topic) {
      throw Error(Errc::invalid_argument,
                  "queue '" + std::string(name) + "': dead-letter destination '" +
                      options.dead_letter +
                      "' is a topic; dead letters go to a queue or an "
                      "exchange (bind the topic to an exchange to dead-letter into it)");
    }
  }
  if (options.durability != Durability::memory && !storage_) {
    throw Error(Errc::invalid_argument, "queue '" + std::string(name) +
                                            "': a durable queue needs a broker with a data_dir");
  }
  bool inserted = false;
  std::shared_ptr<const void> owner;  // an exclusive queue's token, for the handle returned
  auto destination = registry_->find_or_insert(
      name,
      [&] {
        std::unique_ptr<detail::QueueJournal> journal;
        if (options.durability != Durability::memory) {
          journal = storage_->open_queue(name, options);
        }
        auto queue =
            std::make_shared<QueueState>(std::string(name), options, registry_->clock(),
                                         dead_letter, std::move(journal), registry_->hooks());
        auto recovered = queue->recover();
        if (!recovered) {
          throw Error(recovered.code(),
                      "queue '" + std::string(name) + "': " + recovered.message());
        }
        registry_->ensure_ids_above(recovered->second);
        if (queue->durable()) detail::log_recovery(*registry_->hooks(), queue->recovery());
        owner = detail::arm_lifetime(registry_, queue, expiry_, storage_);
        return queue;
      },
      inserted);
  if (inserted) catalog_changed();
  if (!inserted) {
    auto existing = detail::redeclared_as<QueueState>(destination, name);
    // RabbitMQ: another connection's declare of an exclusive queue is RESOURCE_LOCKED.
    if (existing->exclusive_owner() != nullptr) throw_exclusive(name, "declare it again");
    if (auto differs = detail::option_difference(existing->options(), options); !differs.empty()) {
      throw Error(Errc::option_mismatch,
                  "queue '" + std::string(name) + "' already declared with " + differs);
    }
    existing->touch();  // RabbitMQ: a re-declare is a use (x-expires starts over)
    return detail::Access::make<Queue>(existing);
  }
  return detail::Access::make<Queue>(std::static_pointer_cast<QueueState>(destination),
                                     std::move(owner));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring queue", name);
}

Queue Broker::queue(std::string_view name) const {
  if (auto d = registry_->find(name); d && d->kind() == detail::DestinationKind::remote_queue) {
    return detail::Access::make<Queue>(std::static_pointer_cast<detail::RemoteQueue>(d));
  }
  return detail::Access::make<Queue>(find_as<QueueState>(*registry_, name));
}

bool Broker::contains(std::string_view name) const {
  return registry_->find(name) != nullptr;
}

void Broker::delete_queue(std::string_view name, DeleteOptions options) {
  auto gone = registry_->erase(name, [&](detail::Destination& d) {
    if (d.kind() == detail::DestinationKind::remote_queue) {
      auto& remote = static_cast<detail::RemoteQueue&>(d);
      if (options.if_unused && remote.has_consumers()) {
        throw Error(Errc::in_use, "queue '" + std::string(name) + "' has consumers");
      }
      if (options.if_empty && remote.depth() != 0) {
        throw Error(Errc::in_use, "queue '" + std::string(name) + "' is not empty");
      }
      return;
    }
    auto& queue = as<QueueState>(&d, name);
    if (queue.exclusive_owner() != nullptr) throw_exclusive(name, "delete it by name");
    if (options.if_unused && queue.consumer_count() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' has consumers");
    }
    if (options.if_empty && queue.depth() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' is not empty");
    }
  });
  unbind_everywhere(*registry_, *gone);
  if (gone->kind() == detail::DestinationKind::remote_queue) {
    static_cast<detail::RemoteQueue&>(*gone).remove();  // queue.delete on the server, then close
    return;
  }
  gone->close(false);
  if (static_cast<QueueState&>(*gone).durable()) {
    detail::forget_stored_queue(*storage_, *registry_, name);
  }
}

Result<MessageMoveResult> Broker::move_messages(std::string_view source,
                                                const MessageMoveOptions& options) {
  auto found = registry_->find(source);
  if (!found || found->kind() != detail::DestinationKind::queue) {
    return Result<MessageMoveResult>(Errc::unknown_destination,
                                     "move: no queue named '" + std::string(source) + "'");
  }
  return detail::move_messages(*registry_, std::static_pointer_cast<QueueState>(found), options);
}

Exchange Broker::declare_exchange(std::string_view name, ExchangeType type,
                                  const ExchangeOptions& options) try {
  check_name(name);
  if (options.transport) {
    return detail::Access::make<Exchange>(declare_remote<detail::RemoteExchange>(
        *registry_, name, "exchange",
        [&] {
          return detail::Access::open_exchange(*options.transport, name, type, options,
                                               registry_->clock(), registry_->hooks());
        },
        [&](const detail::RemoteExchange& x) {
          return detail::option_difference(x.type(), x.options(), type, options);
        }));
  }
  std::shared_ptr<detail::Destination> alternate;
  if (options.unroutable == Unroutable::alternate) {
    if (options.alternate.empty() || options.alternate == name) {
      throw Error(Errc::invalid_argument, "exchange '" + std::string(name) +
                                              "': Unroutable::alternate needs another destination");
    }
    alternate = registry_->find(options.alternate);
    if (!alternate) {
      throw Error(Errc::unknown_destination, "exchange '" + std::string(name) + "': alternate '" +
                                                 options.alternate + "' is not declared");
    }
  }
  bool inserted = false;
  auto destination = registry_->find_or_insert(
      name,
      [&] { return std::make_shared<ExchangeState>(std::string(name), type, options, alternate); },
      inserted);
  if (!inserted) {
    auto existing = detail::redeclared_as<ExchangeState>(destination, name);
    if (auto differs =
            detail::option_difference(existing->type(), existing->options(), type, options);
        !differs.empty()) {
      throw Error(Errc::option_mismatch,
                  "exchange '" + std::string(name) + "' already declared with " + differs);
    }
    return detail::Access::make<Exchange>(existing);
  }
  catalog_changed();
  return detail::Access::make<Exchange>(std::static_pointer_cast<ExchangeState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring exchange", name);
}

Exchange Broker::exchange(std::string_view name) const {
  if (auto d = registry_->find(name); d && d->kind() == detail::DestinationKind::remote_exchange) {
    return detail::Access::make<Exchange>(std::static_pointer_cast<detail::RemoteExchange>(d));
  }
  return detail::Access::make<Exchange>(find_as<ExchangeState>(*registry_, name));
}

void Broker::delete_exchange(std::string_view name, DeleteOptions options) {
  auto gone = registry_->erase(name, [&](detail::Destination& d) {
    if (d.kind() == detail::DestinationKind::remote_exchange) {
      // if_unused: exchange.delete's if-unused, asked of the server by remove().
      return;
    }
    if (options.if_unused && as<ExchangeState>(&d, name).binding_count() != 0) {
      throw Error(Errc::in_use, "exchange '" + std::string(name) + "' has bindings");
    }
  });
  unbind_everywhere(*registry_, *gone);
  if (gone->kind() == detail::DestinationKind::remote_exchange) {
    static_cast<detail::RemoteExchange&>(*gone).remove();
    return;
  }
  gone->close(false);
  catalog_changed();
}

void Broker::bind(std::string_view exchange, std::string_view destination, std::string_view key,
                  const BindOptions& options) {
  auto found = registry_->find(exchange);
  auto target = registry_->find(destination);
  if (found && found->kind() == detail::DestinationKind::remote_exchange && target) {
    static_cast<detail::RemoteExchange&>(*found).bind(*target, key, options);  // on the server
    return;
  }
  auto source = detail::as<ExchangeState>(found, exchange);
  if (!target) {
    throw Error(Errc::unknown_destination, "cannot bind exchange '" + std::string(exchange) +
                                               "' to '" + std::string(destination) +
                                               "': no such destination");
  }
  source->bind(std::move(target), key, options);
  catalog_changed();
}

bool Broker::unbind(std::string_view exchange, std::string_view destination, std::string_view key) {
  auto found = registry_->find(exchange);
  auto target = registry_->find(destination);
  if (found && found->kind() == detail::DestinationKind::remote_exchange) {
    return target && static_cast<detail::RemoteExchange&>(*found).unbind(*target, key);
  }
  auto source = detail::as<ExchangeState>(found, exchange);
  if (!target) return false;
  const bool removed = source->unbind(*target, key);
  if (removed) catalog_changed();
  return removed;
}

namespace {

/// A consumer of `queue` (reached as `name`), made for `owner` (an exclusive queue's token or
/// null). The one place a Consumer is built.
Consumer make_consumer(std::shared_ptr<QueueState> queue, std::string_view name, const std::shared_ptr<const void>& owner,
                       const ConsumerOptions& options) {
  if (queue->exclusive_owner() != nullptr && queue->exclusive_owner() != owner.get()) {
    throw_exclusive(name, "consume it through another handle");
  }
  if (queue->closed_for_receive() || queue->retiring())
    throw Error(Errc::closed, "queue '" + std::string(name) + "' is closed");
  const std::uint32_t prefetch =
      options.prefetch != 0 ? options.prefetch : queue->options().prefetch;
  if (prefetch > (1u << 20)) throw Error(Errc::invalid_argument, "prefetch above 2^20");
  if (options.workers == 0) {
    throw Error(Errc::invalid_argument,
                "consumer of queue '" + std::string(name) + "': workers must be at least 1");
  }
  auto state = std::make_shared<detail::ConsumerState>(std::move(queue), prefetch, options.wait,
                                                       options.tag);
  if (owner) state->keep_owner(owner);
  return detail::Access::make<Consumer>(std::move(state), options);
}

/// A consumer of a queue a transport holds: an ordinary consumer of the inbox the server fills
/// for it (queue/remote_queue.hpp).
Consumer make_remote_consumer(detail::RemoteQueue& queue, const ConsumerOptions& options) {
  const std::uint32_t prefetch =
      options.prefetch != 0 ? options.prefetch : queue.options().prefetch;
  if (options.workers == 0) {
    throw Error(Errc::invalid_argument,
                "consumer of queue '" + queue.name() + "': workers must be at least 1");
  }
  auto state = std::make_shared<detail::ConsumerState>(queue.consume(prefetch, options.tag),
                                                       prefetch, options.wait, options.tag);
  return detail::Access::make<Consumer>(std::move(state), options);
}

}  // namespace

Consumer Broker::consumer(std::string_view name, const ConsumerOptions& options) try {
  if (auto d = registry_->find(name); d && d->kind() == detail::DestinationKind::remote_queue) {
    return make_remote_consumer(static_cast<detail::RemoteQueue&>(*d), options);
  }
  return make_consumer(find_as<QueueState>(*registry_, name), name, nullptr, options);
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("a consumer of queue", name);
}

Consumer Broker::consumer(const Queue& queue, const ConsumerOptions& options) try {
  if (const auto& remote = detail::Access::remote(queue)) return make_remote_consumer(*remote, options);
  const auto& state = detail::Access::state(queue);
  if (!state) throw Error(Errc::invalid_argument, "consumer of an empty Queue handle");
  return make_consumer(state, state->name(), detail::Access::owner(queue), options);
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("a consumer of queue", queue.name());
}

namespace {

Topic declare_remote_topic(detail::Registry& registry, std::string_view name,
                           const TopicOptions& options) {
  return detail::Access::make<Topic>(declare_remote<detail::RemoteTopic>(
      registry, name, "topic",
      [&] {
        return detail::Access::open_topic(*options.transport, name, options, registry.clock(),
                                          registry.hooks());
      },
      [&](const detail::RemoteTopic& t) { return detail::option_difference(t.options(), options); }));
}

/// The topic registered as `name`, of this process or remote; throws as `find_as`.
std::shared_ptr<detail::TopicBase> find_topic(const detail::Registry& registry,
                                              std::string_view name) {
  auto d = registry.find(name);
  if (d && d->kind() == detail::DestinationKind::remote_topic) {
    return std::static_pointer_cast<detail::RemoteTopic>(d);
  }
  return detail::as<TopicState>(d, name);
}

}  // namespace

Topic Broker::declare_topic(std::string_view name, const TopicOptions& options) try {
  check_name(name);
  check_topic_options(name, options);
  if (options.transport) return declare_remote_topic(*registry_, name, options);
  const bool durable = options.durability != Durability::memory;
  if (durable && !storage_) {
    throw Error(Errc::invalid_argument,
                "topic '" + std::string(name) + "': durability '" +
                    std::string(to_string(options.durability)) +
                    "' needs a broker with a data_dir (BrokerOptions::data_dir)");
  }
  bool inserted = false;
  auto destination = registry_->find_or_insert(
      name,
      [&] {
        detail::TopicStorage storage;
        if (durable) storage = storage_->open_topic(name, options);
        auto topic = std::make_shared<TopicState>(std::string(name), options, registry_->clock(),
                                                  std::move(storage), registry_->hooks());
        for (const StreamRecovery& partition : topic->recovery()) {
          detail::log_recovery(*registry_->hooks(), partition);
        }
        return topic;
      },
      inserted);
  if (!inserted) {
    auto existing = detail::redeclared_as<TopicState>(destination, name);
    if (auto differs = detail::option_difference(existing->options(), options); !differs.empty()) {
      throw Error(Errc::option_mismatch,
                  "topic '" + std::string(name) + "' already declared with " + differs);
    }
    return detail::Access::make<Topic>(existing);
  }
  if (durable) catalog_changed();
  return detail::Access::make<Topic>(std::static_pointer_cast<TopicState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring topic", name);
}

Topic Broker::topic(std::string_view name) const {
  return detail::Access::make<Topic>(find_topic(*registry_, name));
}

void Broker::delete_topic(std::string_view name, DeleteOptions options) {
  auto gone = registry_->erase(name, [&](detail::Destination& d) {
    if (d.kind() == detail::DestinationKind::remote_topic) {
      if (options.if_unused && static_cast<detail::RemoteTopic&>(d).has_members()) {
        throw Error(Errc::in_use, "topic '" + std::string(name) + "' has group members");
      }
      return;  // if_empty: the records are the cluster's; deleting here forgets the name only
    }
    auto& topic = as<TopicState>(&d, name);
    if (options.if_unused && topic.has_members()) {
      throw Error(Errc::in_use, "topic '" + std::string(name) + "' has group members");
    }
    if (options.if_empty && topic.has_records()) {
      throw Error(Errc::in_use, "topic '" + std::string(name) + "' holds records");
    }
  });
  if (gone->kind() == detail::DestinationKind::remote_topic) {
    gone->close(true);  // hands the cluster what was accepted; the remote topic stays
    return;
  }
  gone->close(false);  // closed for good: its storage is retired (no more writes)
  auto& topic = static_cast<TopicState&>(*gone);
  if (topic.durable()) {
    storage_->remove(detail::DestinationKind::topic, name);
    catalog_changed();
  }
}

GroupConsumer Broker::group_consumer(std::string_view topic_name, std::string_view group,
                                     GroupConsumerOptions options) try {
  if (group.empty()) throw Error(Errc::invalid_argument, "group name must not be empty");
  if (auto d = registry_->find(topic_name);
      d && d->kind() == detail::DestinationKind::remote_topic) {
    auto& remote = static_cast<detail::RemoteTopic&>(*d);
    return detail::Access::make<GroupConsumer>(remote.join(group, std::move(options)));
  }
  auto topic = find_as<TopicState>(*registry_, topic_name);
  if (topic->closed_for_receive()) {
    throw Error(Errc::closed, "topic '" + std::string(topic_name) + "' is closed");
  }
  auto state = topic->group(group, options);
  return detail::Access::make<GroupConsumer>(std::make_shared<detail::GroupConsumerState>(
      std::move(topic), std::move(state), std::move(options)));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("a group consumer of topic", topic_name);
}

void Broker::subscribe_queue(std::string_view topic_name, std::string_view queue_name,
                             Headers filter) {
  auto topic = find_as<TopicState>(*registry_, topic_name);
  auto queue = find_as<QueueState>(*registry_, queue_name);
  const bool kept = topic->durable() && queue->durable();  // the catalog lists it
  topic->subscribe(std::move(queue), std::move(filter));
  if (kept) catalog_changed();
}

void Broker::unsubscribe_queue(std::string_view topic_name, std::string_view queue_name) {
  auto topic = find_as<TopicState>(*registry_, topic_name);
  topic->unsubscribe(queue_name);
  if (topic->durable()) catalog_changed();
}

}  // namespace switchyard
