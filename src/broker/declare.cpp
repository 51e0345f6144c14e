// The Broker's declare, look-up and delete of every kind of destination, and the handles it
// makes (producers, consumers, group consumers). Lifecycle: broker.cpp.
#include <cmath>
#include <string>

#include "queue/queue_state.hpp"
#include "route/broker_core.hpp"
#include "route/exchange_state.hpp"
#include "switchyard/broker.hpp"
#include "topic/topic_state.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace {

void check_name(std::string_view name) {
  if (name.empty()) throw Error(Errc::invalid_argument, "destination name must not be empty");
  if (name.size() > 255) {
    throw Error(Errc::invalid_argument, "destination name longer than 255 bytes: '" +
                                            std::string(name.substr(0, 32)) + "...'");
  }
}

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
  if (options.dead_letter == name) bad("a queue cannot be its own dead-letter queue");
}

std::shared_ptr<detail::QueueState> as_queue(const std::shared_ptr<detail::Destination>& d,
                                             std::string_view name) {
  if (!d) throw Error(Errc::unknown_destination, "no queue named '" + std::string(name) + "'");
  if (d->kind() != detail::DestinationKind::queue) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                               detail::to_string(d->kind()) + ", not a queue");
  }
  return std::static_pointer_cast<detail::QueueState>(d);
}

std::shared_ptr<detail::ExchangeState> as_exchange(const std::shared_ptr<detail::Destination>& d,
                                                   std::string_view name) {
  if (!d) throw Error(Errc::unknown_destination, "no exchange named '" + std::string(name) + "'");
  if (d->kind() != detail::DestinationKind::exchange) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                               detail::to_string(d->kind()) + ", not an exchange");
  }
  return std::static_pointer_cast<detail::ExchangeState>(d);
}

/// Removes every exchange binding and topic subscription that points at `gone`.
void unbind_everywhere(detail::BrokerCore& core, const detail::Destination& gone) {
  for (const auto& d : core.all()) {
    if (d->kind() == detail::DestinationKind::exchange) {
      static_cast<detail::ExchangeState&>(*d).unbind_all(gone);
    } else if (d->kind() == detail::DestinationKind::topic &&
               gone.kind() == detail::DestinationKind::queue) {
      try {
        static_cast<detail::TopicState&>(*d).unsubscribe(gone.name());
      } catch (const Error&) {
        // Not subscribed to this topic.
      }
    }
  }
}

void check_topic_options(std::string_view name, const TopicOptions& options) {
  auto bad = [&](const std::string& what) {
    throw Error(Errc::invalid_argument, "topic '" + std::string(name) + "': " + what);
  };
  if (options.partitions == 0) bad("partitions must be at least 1");
  if (options.partitions > detail::kMaxPartitions) bad("partitions above 65536");
  if (options.retention.records == 0 && options.retention.bytes == 0) {
    bad("retention must bound records or bytes (both are 0: memory would be unbounded)");
  }
  if (options.retention.age.count() < 0) bad("retention age must not be negative");
}

std::shared_ptr<detail::TopicState> as_topic(const std::shared_ptr<detail::Destination>& d,
                                             std::string_view name) {
  if (!d) throw Error(Errc::unknown_destination, "no topic named '" + std::string(name) + "'");
  if (d->kind() != detail::DestinationKind::topic) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                               detail::to_string(d->kind()) + ", not a topic");
  }
  return std::static_pointer_cast<detail::TopicState>(d);
}

}  // namespace

Queue Broker::declare_queue(std::string_view name, const QueueOptions& options) try {
  check_name(name);
  check_options(name, options);
  std::shared_ptr<detail::QueueState> dead_letter;
  if (!options.dead_letter.empty()) {
    auto found = core_->find(options.dead_letter);
    if (!found) {
      throw Error(Errc::unknown_destination, "queue '" + std::string(name) +
                                                 "': dead-letter queue '" + options.dead_letter +
                                                 "' is not declared (declare it first)");
    }
    dead_letter = as_queue(found, options.dead_letter);
  }
  if (options.durability != Durability::memory && core_->data_dir.empty()) {
    throw Error(Errc::invalid_argument, "queue '" + std::string(name) +
                                            "': a durable queue needs a broker with a data_dir");
  }
  bool inserted = false;
  auto destination = core_->find_or_insert(
      name,
      [&] {
        std::unique_ptr<detail::QueueJournal> journal;
        if (options.durability != Durability::memory) {
          detail::QueueJournalOptions journal_options;
          journal_options.log.durability = options.durability;
          journal_options.log.salvage = core_->salvage;
          if (core_->segment_bytes != 0) {
            journal_options.log.segment_bytes = core_->segment_bytes;
            journal_options.settlement_segment_bytes = core_->segment_bytes;
          }
          journal_options.log.clock = core_->clock();
          journal_options.log.owner = detail::StorageOwner::of(
              detail::OwnerKind::queue, detail::StreamRole::records, name, 0);
          auto opened = detail::QueueJournal::open(
              core_->storage_dir(detail::DestinationKind::queue, name), journal_options);
          if (!opened) {
            throw Error(opened.code(), "queue '" + std::string(name) + "': " + opened.message());
          }
          journal = std::move(*opened);
        }
        auto queue = std::make_shared<detail::QueueState>(
            std::string(name), options, core_->clock(), dead_letter, std::move(journal));
        auto recovered = queue->recover();
        if (!recovered) {
          throw Error(recovered.code(),
                      "queue '" + std::string(name) + "': " + recovered.message());
        }
        core_->ensure_ids_above(recovered->second);
        return queue;
      },
      inserted);
  if (inserted) catalog_changed();
  if (!inserted) {
    if (destination->kind() != detail::DestinationKind::queue) {
      throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as a " +
                                             detail::to_string(destination->kind()));
    }
    auto existing = std::static_pointer_cast<detail::QueueState>(destination);
    if (!(existing->options() == options)) {
      throw Error(Errc::option_mismatch,
                  "queue '" + std::string(name) + "' is already declared with different options");
    }
    return detail::Access::make<Queue>(existing);
  }
  return detail::Access::make<Queue>(std::static_pointer_cast<detail::QueueState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring queue", name);
}

Queue Broker::queue(std::string_view name) const {
  return detail::Access::make<Queue>(as_queue(core_->find(name), name));
}

bool Broker::contains(std::string_view name) const {
  return core_->find(name) != nullptr;
}

void Broker::delete_queue(std::string_view name, DeleteOptions options) {
  auto gone = core_->erase(name, [&](detail::Destination& d) {
    auto queue = as_queue(std::shared_ptr<detail::Destination>(std::shared_ptr<void>{}, &d), name);
    if (options.if_unused && queue->consumer_count() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' has consumers");
    }
    if (options.if_empty && queue->depth() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' is not empty");
    }
  });
  unbind_everywhere(*core_, *gone);
  gone->close(false);
  if (static_cast<detail::QueueState&>(*gone).durable()) {
    catalog_changed();
    // Best effort: the catalog no longer lists it either way.
    (void)detail::remove_tree(core_->storage_dir(detail::DestinationKind::queue, name));
  }
}

Exchange Broker::declare_exchange(std::string_view name, ExchangeType type,
                                  const ExchangeOptions& options) try {
  check_name(name);
  std::shared_ptr<detail::Destination> alternate;
  if (options.unroutable == Unroutable::alternate) {
    if (options.alternate.empty() || options.alternate == name) {
      throw Error(Errc::invalid_argument, "exchange '" + std::string(name) +
                                              "': Unroutable::alternate needs another destination");
    }
    alternate = core_->find(options.alternate);
    if (!alternate) {
      throw Error(Errc::unknown_destination, "exchange '" + std::string(name) + "': alternate '" +
                                                 options.alternate + "' is not declared");
    }
  }
  bool inserted = false;
  auto destination = core_->find_or_insert(
      name,
      [&] {
        return std::make_shared<detail::ExchangeState>(std::string(name), type, options, alternate);
      },
      inserted);
  if (!inserted) {
    if (destination->kind() != detail::DestinationKind::exchange) {
      throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as a " +
                                             detail::to_string(destination->kind()));
    }
    auto existing = std::static_pointer_cast<detail::ExchangeState>(destination);
    if (existing->type() != type || !(existing->options() == options)) {
      throw Error(Errc::option_mismatch, "exchange '" + std::string(name) +
                                             "' is already declared with another type or options");
    }
    return detail::Access::make<Exchange>(existing);
  }
  catalog_changed();
  return detail::Access::make<Exchange>(
      std::static_pointer_cast<detail::ExchangeState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring exchange", name);
}

Exchange Broker::exchange(std::string_view name) const {
  return detail::Access::make<Exchange>(as_exchange(core_->find(name), name));
}

void Broker::delete_exchange(std::string_view name, DeleteOptions options) {
  auto gone = core_->erase(name, [&](detail::Destination& d) {
    if (d.kind() != detail::DestinationKind::exchange) {
      throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                                 detail::to_string(d.kind()) + ", not an exchange");
    }
    if (options.if_unused && static_cast<detail::ExchangeState&>(d).binding_count() != 0) {
      throw Error(Errc::in_use, "exchange '" + std::string(name) + "' has bindings");
    }
  });
  unbind_everywhere(*core_, *gone);
  gone->close(false);
  catalog_changed();
}

void Broker::bind(std::string_view exchange, std::string_view destination, std::string_view key,
                  const BindOptions& options) {
  auto source = as_exchange(core_->find(exchange), exchange);
  auto target = core_->find(destination);
  if (!target) {
    throw Error(Errc::unknown_destination, "cannot bind exchange '" + std::string(exchange) +
                                               "' to '" + std::string(destination) +
                                               "': no such destination");
  }
  source->bind(std::move(target), key, options);
  catalog_changed();
}

bool Broker::unbind(std::string_view exchange, std::string_view destination, std::string_view key) {
  auto source = as_exchange(core_->find(exchange), exchange);
  auto target = core_->find(destination);
  if (!target) return false;
  const bool removed = source->unbind(*target, key);
  if (removed) catalog_changed();
  return removed;
}

Consumer Broker::consumer(std::string_view name, const ConsumerOptions& options) try {
  auto queue = as_queue(core_->find(name), name);
  if (queue->closed_for_receive())
    throw Error(Errc::closed, "queue '" + std::string(name) + "' is closed");
  const std::uint32_t prefetch =
      options.prefetch != 0 ? options.prefetch : queue->options().prefetch;
  if (prefetch > (1u << 20)) throw Error(Errc::invalid_argument, "prefetch above 2^20");
  if (options.workers == 0) {
    throw Error(Errc::invalid_argument,
                "consumer of queue '" + std::string(name) + "': workers must be at least 1");
  }
  auto state = std::make_shared<detail::ConsumerState>(std::move(queue), prefetch, options.wait,
                                                       core_->interceptors());
  return detail::Access::make<Consumer>(std::move(state), options);
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("a consumer of queue", name);
}

Topic Broker::declare_topic(std::string_view name, const TopicOptions& options) try {
  check_name(name);
  check_topic_options(name, options);
  const bool durable = options.durability != Durability::memory;
  if (durable && core_->data_dir.empty()) {
    throw Error(Errc::invalid_argument,
                "topic '" + std::string(name) + "': durability '" +
                    std::string(to_string(options.durability)) +
                    "' needs a broker with a data_dir (BrokerOptions::data_dir)");
  }
  bool inserted = false;
  auto destination = core_->find_or_insert(
      name,
      [&] {
        detail::TopicStorage storage;
        if (durable) {
          storage.dir = core_->storage_dir(detail::DestinationKind::topic, name);
          storage.salvage = core_->salvage;
          storage.segment_bytes = core_->segment_bytes;
        }
        return std::make_shared<detail::TopicState>(std::string(name), options, core_->clock(),
                                                    std::move(storage));
      },
      inserted);
  if (!inserted) {
    if (destination->kind() != detail::DestinationKind::topic) {
      throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as a " +
                                             detail::to_string(destination->kind()));
    }
    auto existing = std::static_pointer_cast<detail::TopicState>(destination);
    if (!(existing->options() == options)) {
      throw Error(Errc::option_mismatch,
                  "topic '" + std::string(name) + "' is already declared with different options");
    }
    return detail::Access::make<Topic>(existing);
  }
  if (durable) catalog_changed();
  return detail::Access::make<Topic>(std::static_pointer_cast<detail::TopicState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring topic", name);
}

Topic Broker::topic(std::string_view name) const {
  return detail::Access::make<Topic>(as_topic(core_->find(name), name));
}

void Broker::delete_topic(std::string_view name, DeleteOptions options) {
  auto gone = core_->erase(name, [&](detail::Destination& d) {
    if (d.kind() != detail::DestinationKind::topic) {
      throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                                 detail::to_string(d.kind()) + ", not a topic");
    }
    auto& topic = static_cast<detail::TopicState&>(d);
    if (options.if_unused && topic.has_members()) {
      throw Error(Errc::in_use, "topic '" + std::string(name) + "' has group members");
    }
    if (options.if_empty && topic.has_records()) {
      throw Error(Errc::in_use, "topic '" + std::string(name) + "' holds records");
    }
  });
  gone->close(false);
  auto& topic = static_cast<detail::TopicState&>(*gone);
  if (topic.durable()) {
    topic.destroy_storage();
    catalog_changed();
  }
}

GroupConsumer Broker::group_consumer(std::string_view topic_name, std::string_view group,
                                     GroupConsumerOptions options) try {
  auto topic = as_topic(core_->find(topic_name), topic_name);
  if (group.empty()) throw Error(Errc::invalid_argument, "group name must not be empty");
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
  auto topic = as_topic(core_->find(topic_name), topic_name);
  auto found = core_->find(queue_name);
  if (!found || found->kind() != detail::DestinationKind::queue) {
    throw Error(Errc::unknown_destination, "no queue named '" + std::string(queue_name) + "'");
  }
  topic->subscribe(std::static_pointer_cast<detail::QueueState>(found), std::move(filter));
}

void Broker::unsubscribe_queue(std::string_view topic_name, std::string_view queue_name) {
  as_topic(core_->find(topic_name), topic_name)->unsubscribe(queue_name);
}

}  // namespace switchyard
