// The broker's catalog: which durable queues and topics, exchanges and bindings a data
// directory holds, so a restarted broker declares them again before anyone uses it.
//
// Stored with the same atomic, CRC-checked, fall-back-to-previous checkpoint file that keeps
// group offsets (offset_checkpoint.hpp): one entry per declaration, keyed "<kind>:<name>"
// (bindings: "binding:" + exchange, target, key and arguments; a topic's queue subscriptions:
// "subscription:" + topic, queue), its text a list of
// `field=value` lines with values %-escaped. Only durable queues and topics are listed (a
// memory-only destination is gone after a restart, as in RabbitMQ), every exchange, the
// bindings whose target is listed too, and the subscriptions of listed topics to listed queues
// (SNS keeps a subscription until it is unsubscribed).
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "broker/broker_catalog.hpp"
#include "broker/catalog_records.hpp"
#include "broker/lookup.hpp"
#include "broker/storage_context.hpp"
#include "queue/message_move.hpp"
#include "switchyard/broker.hpp"

namespace switchyard {

namespace {

using Fields = detail::CatalogFields;

std::string escape(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (c == '%' || c == '\n' || c == '=' || c < 0x20 || c >= 0x7f) {
      constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string write(const Fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields)
    fmt::format_to(std::back_inserter(out), "{}={}\n", name, escape(value));
  return out;
}

Fields read(std::string_view text) {
  return detail::decode_catalog_fields(text);
}

/// The field's value, or throws `corrupt` naming it.
const std::string& need(const Fields& f, std::string_view name) {
  auto it = f.find(name);
  if (it == f.end()) {
    throw Error(Errc::corrupt, "catalog entry lacks field '" + std::string(name) + "'");
  }
  return it->second;
}
std::int64_t need_int(const Fields& f, std::string_view name) {
  const std::string& text = need(f, name);
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') {
    throw Error(Errc::corrupt, "catalog field '" + std::string(name) + "' is not a number");
  }
  return value;
}
std::string num(std::int64_t v) {
  return std::to_string(v);
}
/// A field added after catalogs were first written: `otherwise` when an older catalog lacks it.
std::int64_t int_or(const Fields& f, std::string_view name, std::int64_t otherwise) {
  return f.contains(name) ? need_int(f, name) : otherwise;
}

/// A destination's storage options, as lines added to its own (`read` takes them in any order).
std::string encode_storage(const StorageOptions& o) {
  return write({{"segment_bytes", num(static_cast<std::int64_t>(o.segment_bytes))},
                {"preallocate", num(static_cast<int>(o.preallocate))},
                {"flush_interval", num(o.flush_interval.count())},
                {"flush_bytes", num(static_cast<std::int64_t>(o.flush_bytes))}});
}
/// Absent fields (a catalog written before them) inherit, as they did then.
StorageOptions decode_storage(const Fields& f) {
  StorageOptions o;
  o.segment_bytes = static_cast<std::uint64_t>(int_or(f, "segment_bytes", 0));
  o.preallocate = static_cast<Preallocate>(int_or(f, "preallocate", 0));
  o.flush_interval = Duration(int_or(f, "flush_interval", 0));
  o.flush_bytes = static_cast<std::uint64_t>(int_or(f, "flush_bytes", 0));
  return o;
}

/// A list of delays as nanosecond counts, comma-separated ("" for none).
std::string encode_delays(const std::vector<Duration>& delays) {
  std::string out;
  for (const Duration d : delays) {
    if (!out.empty()) out.push_back(',');
    out.append(num(d.count()));
  }
  return out;
}
std::vector<Duration> decode_delays(const std::string& text) {
  std::vector<Duration> delays;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    char* end = nullptr;
    const long long value = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0') {
      throw Error(Errc::corrupt, "catalog field 'backoff_delays' is not a list of numbers");
    }
    delays.emplace_back(value);
    start = comma + 1;
  }
  return delays;
}

std::string encode_headers(const Headers& headers) {
  Fields f;
  std::size_t i = 0;
  for (const auto& [name, value] : headers) {
    f.emplace(fmt::format("n{}", i), name);
    f.emplace(fmt::format("v{}", i), value);
    ++i;
  }
  return write(f);
}
Headers decode_headers(std::string_view text) {
  const Fields f = read(text);
  std::vector<std::pair<std::string, std::string>> entries;
  for (std::size_t i = 0; f.contains(fmt::format("n{}", i)); ++i) {
    entries.emplace_back(need(f, fmt::format("n{}", i)), need(f, fmt::format("v{}", i)));
  }
  return Headers(entries);
}

std::string encode_queue(const QueueOptions& o) {
  return write({{"capacity", num(static_cast<std::int64_t>(o.capacity))},
                {"overflow", num(static_cast<int>(o.overflow))},
                {"send_timeout", num(o.send_timeout.count())},
                {"max_deliveries", num(o.max_deliveries)},
                {"dead_letter", o.dead_letter},
                {"dead_letter_routing_key", o.dead_letter_routing_key},
                {"prefetch", num(o.prefetch)},
                {"visibility_timeout", num(o.visibility_timeout.count())},
                {"backoff_initial", num(o.retry_backoff.initial.count())},
                {"backoff_multiplier_millis",
                 num(static_cast<std::int64_t>(o.retry_backoff.multiplier * 1000))},
                {"backoff_max", num(o.retry_backoff.max.count())},
                {"delay", num(o.delay.count())},
                {"ttl", num(o.ttl.count())},
                {"on_expiry", num(static_cast<int>(o.on_expiry))},
                {"dedup_window", num(o.dedup_window.count())},
                {"max_priority", num(o.max_priority)},
                {"max_payload", num(static_cast<std::int64_t>(o.max_payload))},
                {"durability", num(static_cast<int>(o.durability))},
                {"max_length_bytes", num(static_cast<std::int64_t>(o.max_length_bytes))},
                {"single_active_consumer", num(o.single_active_consumer ? 1 : 0)},
                {"backoff_increment", num(o.retry_backoff.increment.count())},
                {"backoff_delays", encode_delays(o.retry_backoff.delays)},
                {"backoff_jitter_millionths",
                 num(static_cast<std::int64_t>(std::llround(o.retry_backoff.jitter * 1e6)))},
                {"auto_delete", num(o.auto_delete ? 1 : 0)},
                {"expires", num(o.expires.count())}}) +
         encode_storage(o.storage);
}
QueueOptions decode_queue(const Fields& f) {
  QueueOptions o;
  o.capacity = static_cast<std::size_t>(need_int(f, "capacity"));
  o.overflow = static_cast<Overflow>(need_int(f, "overflow"));
  o.send_timeout = Duration(need_int(f, "send_timeout"));
  o.max_deliveries = static_cast<std::uint32_t>(need_int(f, "max_deliveries"));
  o.dead_letter = need(f, "dead_letter");
  // Added after catalogs were first written: absent, the message's own key (as then).
  if (auto it = f.find("dead_letter_routing_key"); it != f.end())
    o.dead_letter_routing_key = it->second;
  o.prefetch = static_cast<std::uint32_t>(need_int(f, "prefetch"));
  o.visibility_timeout = Duration(need_int(f, "visibility_timeout"));
  o.retry_backoff.initial = Duration(need_int(f, "backoff_initial"));
  o.retry_backoff.multiplier = static_cast<double>(need_int(f, "backoff_multiplier_millis")) / 1000;
  o.retry_backoff.max = Duration(need_int(f, "backoff_max"));
  o.delay = Duration(need_int(f, "delay"));
  o.ttl = Duration(need_int(f, "ttl"));
  o.on_expiry = static_cast<OnExpiry>(need_int(f, "on_expiry"));
  o.dedup_window = Duration(need_int(f, "dedup_window"));
  o.max_priority = static_cast<std::uint8_t>(need_int(f, "max_priority"));
  o.max_payload = static_cast<std::size_t>(need_int(f, "max_payload"));
  o.durability = static_cast<Durability>(need_int(f, "durability"));
  o.storage = decode_storage(f);
  // Fields added after catalogs were first written: absent, they keep their defaults.
  o.max_length_bytes = static_cast<std::size_t>(int_or(f, "max_length_bytes", 0));
  o.single_active_consumer = int_or(f, "single_active_consumer", 0) != 0;
  o.retry_backoff.increment = Duration(int_or(f, "backoff_increment", 0));
  if (auto it = f.find("backoff_delays"); it != f.end()) {
    o.retry_backoff.delays = decode_delays(it->second);
  }
  o.retry_backoff.jitter = static_cast<double>(int_or(f, "backoff_jitter_millionths", 0)) / 1e6;
  // Durable queues could not have these before they were kept here: absent, off.
  o.auto_delete = int_or(f, "auto_delete", 0) != 0;
  o.expires = Duration(int_or(f, "expires", 0));
  return o;
}

std::string encode_topic(const TopicOptions& o) {
  return write({{"partitions", num(o.partitions)},
                {"retention_records", num(static_cast<std::int64_t>(o.retention.records))},
                {"retention_bytes", num(static_cast<std::int64_t>(o.retention.bytes))},
                {"retention_age", num(o.retention.age.count())},
                {"max_payload", num(static_cast<std::int64_t>(o.max_payload))},
                {"durability", num(static_cast<int>(o.durability))},
                {"dedup_window", num(o.dedup_window.count())},
                {"cleanup", num(static_cast<int>(o.cleanup))},
                {"delete_retention", num(o.delete_retention.count())}}) +
         encode_storage(o.storage);
}
TopicOptions decode_topic(const Fields& f) {
  TopicOptions o;
  o.partitions = static_cast<std::uint32_t>(need_int(f, "partitions"));
  o.retention.records = static_cast<std::uint64_t>(need_int(f, "retention_records"));
  o.retention.bytes = static_cast<std::uint64_t>(need_int(f, "retention_bytes"));
  o.retention.age = Duration(need_int(f, "retention_age"));
  o.max_payload = static_cast<std::size_t>(need_int(f, "max_payload"));
  o.durability = static_cast<Durability>(need_int(f, "durability"));
  // Added after catalogs were first written: absent, the default.
  o.dedup_window = Duration(int_or(f, "dedup_window", TopicOptions{}.dedup_window.count()));
  o.storage = decode_storage(f);
  // Catalogs written before compaction have neither field: the defaults.
  o.cleanup = static_cast<Cleanup>(int_or(f, "cleanup", 0));
  o.delete_retention =
      Duration(int_or(f, "delete_retention", TopicOptions{}.delete_retention.count()));
  return o;
}

bool persisted(const detail::Destination& d) {
  switch (d.kind()) {
    case detail::DestinationKind::queue:
      return static_cast<const detail::QueueState&>(d).durable();
    case detail::DestinationKind::topic:
      return static_cast<const detail::TopicState&>(d).durable();
    case detail::DestinationKind::exchange:
      return true;
    case detail::DestinationKind::remote_topic:
    case detail::DestinationKind::remote_queue:
    case detail::DestinationKind::remote_exchange:
      return false;  // its transport keeps it; a restart declares it again
  }
  return false;
}

/// What a catalog lists, by kind: (name, fields) of each declaration, and each binding's
/// fields.
struct Listed {
  std::vector<std::pair<std::string, Fields>> queues, topics, exchanges, bindings, subscriptions;
};

Listed by_kind(const detail::CatalogEntries& catalog) {
  Listed listed;
  for (const auto& [id, text] : catalog) {
    const std::size_t colon = id.find(':');
    const std::string kind = id.substr(0, colon);
    const std::string name = colon == std::string::npos ? "" : id.substr(colon + 1);
    auto& list = kind == "queue"          ? listed.queues
                 : kind == "topic"        ? listed.topics
                 : kind == "exchange"     ? listed.exchanges
                 : kind == "subscription" ? listed.subscriptions
                                          : listed.bindings;
    list.emplace_back(name, read(text));
  }
  return listed;
}

/// Declares each entry of `list` once what it depends on (`depends_on(fields)`: a name, or
/// empty for nothing) is declared — a dead-letter queue before the queues that use it, an
/// alternate before its exchange —, in passes until one makes no progress. Leaves in `list`
/// what could not be declared.
template <class DependsOn, class Declare>
void declare_in_order(Broker& broker, std::vector<std::pair<std::string, Fields>>& list,
                      DependsOn&& depends_on, Declare&& declare) {
  for (bool progress = true; progress && !list.empty();) {
    progress = false;
    for (auto it = list.begin(); it != list.end();) {
      const std::string dependency = depends_on(it->second);
      if (!dependency.empty() && !broker.contains(dependency)) {
        ++it;
        continue;
      }
      declare(it->first, it->second);
      it = list.erase(it);
      progress = true;
    }
  }
}

void redeclare_queues(Broker& broker, std::vector<std::pair<std::string, Fields>>& queues) {
  declare_in_order(
      broker, queues, [](const Fields& f) { return need(f, "dead_letter"); },
      [&](const std::string& name, const Fields& f) {
        broker.declare_queue(name, decode_queue(f));
      });
}

void redeclare_exchanges(Broker& broker, std::vector<std::pair<std::string, Fields>>& exchanges) {
  declare_in_order(
      broker, exchanges, [](const Fields& f) { return need(f, "alternate"); },
      [&](const std::string& name, const Fields& f) {
        ExchangeOptions options;
        options.unroutable = static_cast<Unroutable>(need_int(f, "unroutable"));
        options.alternate = need(f, "alternate");
        broker.declare_exchange(name, static_cast<ExchangeType>(need_int(f, "type")), options);
      });
}

/// Binds what the catalog lists, skipping a binding one of whose ends was not durable.
void rebind(Broker& broker, const std::vector<std::pair<std::string, Fields>>& bindings) {
  for (const auto& [id, fields] : bindings) {
    const std::string& exchange = need(fields, "exchange");
    const std::string& target = need(fields, "target");
    if (!broker.contains(exchange) || !broker.contains(target)) continue;
    broker.bind(exchange, target, need(fields, "key"),
                BindOptions{.arguments = decode_headers(need(fields, "arguments"))});
  }
}

/// Subscribes what the catalog lists (a durable topic's fan-out to a durable queue), with its
/// filter as given; skips one whose topic or queue is gone.
void resubscribe(Broker& broker, const std::vector<std::pair<std::string, Fields>>& subscriptions) {
  for (const auto& [id, fields] : subscriptions) {
    const std::string& topic = need(fields, "topic");
    const std::string& queue = need(fields, "queue");
    if (!broker.contains(topic) || !broker.contains(queue)) continue;
    broker.subscribe_queue(topic, queue, decode_headers(need(fields, "arguments")));
  }
}

/// Adds the catalog entries of `d` (a persisted destination): its declaration and, for an
/// exchange, each of its bindings whose target is persisted too; for a topic, each of its
/// queue subscriptions whose queue is persisted too.
void add_entries(detail::CatalogEntries& map, const detail::Destination& d) {
  switch (d.kind()) {
    case detail::DestinationKind::queue:
      map[fmt::format("queue:{}", d.name())] =
          encode_queue(static_cast<const detail::QueueState&>(d).options());
      break;
    case detail::DestinationKind::topic: {
      const auto& topic = static_cast<const detail::TopicState&>(d);
      map[fmt::format("topic:{}", d.name())] = encode_topic(topic.options());
      for (const auto& [queue, filter] : topic.subscriptions()) {
        if (!persisted(*queue)) continue;
        map[fmt::format("subscription:{}={}", escape(d.name()), escape(queue->name()))] =
            write({{"topic", d.name()},
                   {"queue", queue->name()},
                   {"arguments", encode_headers(filter)}});
      }
      break;
    }
    case detail::DestinationKind::exchange: {
      const auto& exchange = static_cast<const detail::ExchangeState&>(d);
      map[fmt::format("exchange:{}", d.name())] =
          write({{"type", num(static_cast<int>(exchange.type()))},
                 {"unroutable", num(static_cast<int>(exchange.options().unroutable))},
                 {"alternate", exchange.options().alternate}});
      for (const auto& binding : exchange.bindings()) {
        if (!persisted(*binding.target)) continue;
        const std::string arguments = encode_headers(binding.arguments);
        map[fmt::format("binding:{}={}={}={}", escape(d.name()), escape(binding.target->name()),
                        escape(binding.key), escape(arguments))] =
            write({{"exchange", d.name()},
                   {"target", binding.target->name()},
                   {"key", binding.key},
                   {"arguments", arguments}});
      }
      break;
    }
    case detail::DestinationKind::remote_topic:
    case detail::DestinationKind::remote_queue:
    case detail::DestinationKind::remote_exchange:
      break;  // never persisted (see persisted())
  }
}

}  // namespace

void Broker::open_catalog() {
  Listed listed = by_kind(storage_->open_catalog());
  struct Loaded {
    detail::StorageContext& storage;
    ~Loaded() { storage.catalog_loaded(); }
  } loaded{*storage_};
  for (const auto& [name, fields] : listed.topics) declare_topic(name, decode_topic(fields));
  // Queues and exchanges may depend on each other (a queue dead-letters to an exchange, an
  // exchange's alternate is a queue): passes over both until one declares nothing more.
  for (std::size_t left = SIZE_MAX; listed.queues.size() + listed.exchanges.size() < left;) {
    left = listed.queues.size() + listed.exchanges.size();
    redeclare_queues(*this, listed.queues);
    redeclare_exchanges(*this, listed.exchanges);
  }
  rebind(*this, listed.bindings);
  resubscribe(*this, listed.subscriptions);
  // Moves between durable queues that a crash cut short end in exactly one queue.
  (void)detail::finish_moves(*registry_);
  if (!listed.queues.empty() || !listed.exchanges.empty()) {
    throw Error(Errc::corrupt, "data directory catalog: " +
                                   std::to_string(listed.queues.size() + listed.exchanges.size()) +
                                   " declarations depend on destinations the catalog lacks");
  }
}

void Broker::catalog_changed() {
  if (storage_) detail::commit_catalog(*storage_, *registry_);
}

}  // namespace switchyard

namespace switchyard::detail {

void commit_catalog(StorageContext& storage, const Registry& registry) {
  storage.commit_catalog([&] {
    CatalogEntries map;
    for (const auto& d : registry.all()) {
      if (persisted(*d)) add_entries(map, *d);
    }
    return map;
  });
}

}  // namespace switchyard::detail
