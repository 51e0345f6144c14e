// Broker::stats — the broker-wide snapshot — and its JSON form, written by hand (the library
// depends on no JSON library). Broker::metrics (metrics.cpp) is written from the same snapshot.
#include "switchyard/stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "broker/lookup.hpp"
#include "broker/storage_context.hpp"
#include "pubsub/pubsub_hub.hpp"
#include "switchyard/broker.hpp"

namespace switchyard {

BrokerStats Broker::stats() const {
  BrokerStats s;
  for (const auto& q : detail::all_of<detail::QueueState>(*registry_)) {
    s.queues.push_back(q->stats());
  }
  for (const auto& t : detail::all_of<detail::TopicState>(*registry_)) {
    s.topics.push_back(t->stats());
  }
  for (const auto& t : detail::all_of<detail::RemoteTopic>(*registry_)) {
    s.topics.push_back(t->stats());  // this process's view of a topic a transport holds
    s.remote_topics.push_back(t->remote_stats());
  }
  for (const auto& q : detail::all_of<detail::RemoteQueue>(*registry_)) {
    s.queues.push_back(q->stats());  // this process's view of a queue a transport holds
    s.remote_queues.push_back(q->remote_stats());
  }
  for (const auto& e : detail::all_of<detail::ExchangeState>(*registry_)) {
    s.exchanges.push_back(e->stats());
  }
  for (const auto& e : detail::all_of<detail::RemoteExchange>(*registry_)) {
    s.exchanges.push_back(e->stats());
    s.remote_queues.push_back(e->remote_stats());
  }
  s.subscriptions = pubsub_->stats();
  if (storage_) s.storage = storage_->storage_stats();
  return s;
}

namespace {

/// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, and
/// each byte that does not begin a well-formed UTF-8 sequence replaced by U+FFFD.
void json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++p;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then the continuation bytes,
    // refusing overlong forms, surrogates and code points above U+10FFFF (RFC 3629).
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    }
    bool valid = length != 0 && static_cast<std::size_t>(end - p) >= length;
    for (std::size_t i = 1; valid && i < length; ++i) {
      const unsigned char next = p[i];
      valid = i == 1 ? (next >= low && next <= high) : (next >= 0x80 && next <= 0xBF);
    }
    if (valid) {
      out.append(reinterpret_cast<const char*>(p), length);
      p += length;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD, for this one byte; the next starts afresh
      ++p;
    }
  }
  out.push_back('"');
}

void json_value(std::string& out, std::uint64_t v) {
  fmt::format_to(std::back_inserter(out), "{}", v);
}
void json_value(std::string& out, std::uint32_t v) {
  json_value(out, std::uint64_t{v});
}
void json_value(std::string& out, double v) {
  fmt::format_to(std::back_inserter(out), "{}", v);
}
void json_value(std::string& out, bool v) {
  out += v ? "true" : "false";
}
void json_value(std::string& out, const std::string& v) {
  json_string(out, v);
}

// Every value type, declared before the templates that call them (they are found by ordinary
// lookup, not by ADL: this namespace is not the types' own).
void json_value(std::string& out, const LatencyHistogram& h);
void json_value(std::string& out, const QueueStats& s);
void json_value(std::string& out, const PartitionStats& s);
void json_value(std::string& out, const GroupPartitionStats& s);
void json_value(std::string& out, const GroupStats& s);
void json_value(std::string& out, const TopicStats& s);
void json_value(std::string& out, const ExchangeStats& s);
void json_value(std::string& out, const SubscriptionEntry& s);
void json_value(std::string& out, const StorageStats& s);
void json_value(std::string& out, const RemotePartitionLag& s);
void json_value(std::string& out, const RemoteTopicStats& s);
void json_value(std::string& out, const RemoteQueueStats& s);
template <class T>
void json_value(std::string& out, const std::vector<T>& values);

/// One JSON object: `member` writes `"key":value`, with the commas between; the braces come
/// with construction and destruction.
class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_.push_back('{'); }
  ~JsonObject() { out_.push_back('}'); }
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;

  template <class T>
  JsonObject& member(std::string_view key, const T& value) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json_string(out_, key);
    out_.push_back(':');
    json_value(out_, value);
    return *this;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

template <class T>
void json_value(std::string& out, const std::vector<T>& values) {
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_value(out, values[i]);
  }
  out.push_back(']');
}

constexpr double seconds(std::uint64_t ns) noexcept {
  return static_cast<double>(ns) / 1e9;
}

void json_value(std::string& out, const LatencyHistogram& h) {
  JsonObject o(out);
  o.member("count", h.count()).member("sum_seconds", seconds(h.sum_ns));
  std::string buckets = "[";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBoundsNs.size(); ++i) {
    cumulative += h.counts[i];
    if (i != 0) buckets.push_back(',');
    fmt::format_to(std::back_inserter(buckets), "{{\"le\":{},\"count\":{}}}",
                   seconds(LatencyHistogram::kBoundsNs[i]), cumulative);
  }
  buckets.push_back(']');
  out += ",\"buckets\":";  // after "count": `o` has written a member already
  out += buckets;
}

void json_value(std::string& out, const QueueStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("depth", std::uint64_t{s.depth})
      .member("in_flight", std::uint64_t{s.in_flight})
      .member("consumers", std::uint64_t{s.consumers})
      .member("enqueued", s.enqueued)
      .member("deduplicated", s.deduplicated)
      .member("delivered", s.delivered)
      .member("redelivered", s.redelivered)
      .member("acked", s.acked)
      .member("nacked", s.nacked)
      .member("dead_lettered", s.dead_lettered)
      .member("expired", s.expired)
      .member("dropped", s.dropped)
      .member("rejected_full", s.rejected_full)
      .member("handler_errors", s.handler_errors)
      .member("recovered", s.recovered)
      .member("recovery_truncated_bytes", s.recovery_truncated_bytes)
      .member("recovery_removed_segments", s.recovery_removed_segments)
      .member("recovery_skipped_regions", s.recovery_skipped_regions)
      .member("recovery_skipped_bytes", s.recovery_skipped_bytes)
      .member("delivery_age", s.delivery_age);
}

void json_value(std::string& out, const PartitionStats& s) {
  JsonObject o(out);
  o.member("partition", s.partition)
      .member("start_offset", s.start_offset)
      .member("end_offset", s.end_offset)
      .member("appended", s.appended)
      .member("bytes", s.bytes)
      .member("appended_bytes", s.appended_bytes);
}

void json_value(std::string& out, const GroupPartitionStats& s) {
  JsonObject o(out);
  o.member("partition", s.partition)
      .member("committed", s.committed)
      .member("lag", s.lag)
      .member("missed", s.missed)
      .member("assigned", s.assigned);
}

void json_value(std::string& out, const GroupStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("members", std::uint64_t{s.members})
      .member("lag", s.lag)
      .member("missed", s.missed)
      .member("partitions", s.partitions);
}

void json_value(std::string& out, const TopicStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("appended", s.appended)
      .member("appended_bytes", s.appended_bytes)
      .member("retained", s.retained)
      .member("bytes", s.bytes)
      .member("missed", s.missed)
      .member("fanned_out", s.fanned_out)
      .member("fan_out_failed", s.fan_out_failed)
      .member("subscriptions", std::uint64_t{s.subscriptions})
      .member("recovered", s.recovered)
      .member("recovery_truncated_bytes", s.recovery_truncated_bytes)
      .member("recovery_removed_segments", s.recovery_removed_segments)
      .member("recovery_skipped_regions", s.recovery_skipped_regions)
      .member("recovery_skipped_bytes", s.recovery_skipped_bytes)
      .member("partitions", s.partitions)
      .member("groups", s.groups);
}

void json_value(std::string& out, const ExchangeStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("routed", s.routed)
      .member("deliveries", s.deliveries)
      .member("unroutable", s.unroutable)
      .member("rejected", s.rejected)
      .member("bindings", std::uint64_t{s.bindings});
}

void json_value(std::string& out, const SubscriptionEntry& s) {
  JsonObject o(out);
  o.member("id", s.id)
      .member("channel", s.channel)
      .member("pattern", s.pattern)
      .member("delivered", s.stats.delivered)
      .member("dropped", s.stats.dropped)
      .member("handler_errors", s.stats.handler_errors)
      .member("buffered", std::uint64_t{s.stats.buffered});
}

void json_value(std::string& out, const StorageStats& s) {
  JsonObject o(out);
  o.member("bytes_written", s.bytes_written)
      .member("records_written", s.records_written)
      .member("syncs", s.syncs)
      .member("sync_failures", s.sync_failures)
      .member("sync_latency", s.sync_latency)
      .member("segments", s.segments)
      .member("segments_created", s.segments_created)
      .member("segments_deleted", s.segments_deleted)
      .member("logs_recovered", s.logs_recovered)
      .member("recovery_events", s.recovery_events);
}

void json_value(std::string& out, const RemotePartitionLag& s) {
  JsonObject o(out);
  o.member("group", s.group).member("partition", s.partition).member("lag", s.lag);
}

void json_value(std::string& out, const RemoteTopicStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("transport", s.transport)
      .member("produced", s.produced)
      .member("delivered", s.delivered)
      .member("failed", s.failed)
      .member("retried", s.retried)
      .member("in_flight_bytes", s.in_flight_bytes)
      .member("buffered", s.buffered)
      .member("rebalances", s.rebalances)
      .member("errors", s.errors)
      .member("connection", std::string(to_string(s.connection)))
      .member("last_error", s.last_error)
      .member("lag", s.lag);
}

void json_value(std::string& out, const RemoteQueueStats& s) {
  JsonObject o(out);
  o.member("name", s.name)
      .member("transport", s.transport)
      .member("kind", std::string(to_string(s.kind)))
      .member("published", s.published)
      .member("confirmed", s.confirmed)
      .member("returned", s.returned)
      .member("failed", s.failed)
      .member("republished", s.republished)
      .member("delivered", s.delivered)
      .member("acked", s.acked)
      .member("requeued", s.requeued)
      .member("rejected", s.rejected)
      .member("reconnects", s.reconnects)
      .member("errors", s.errors)
      .member("connection", std::string(to_string(s.connection)))
      .member("last_error", s.last_error);
}

}  // namespace

std::string to_json(const BrokerStats& stats) {
  std::string out;
  {
    JsonObject o(out);
    o.member("queues", stats.queues)
        .member("topics", stats.topics)
        .member("exchanges", stats.exchanges)
        .member("subscriptions", stats.subscriptions)
        .member("remote_topics", stats.remote_topics)
        .member("remote_queues", stats.remote_queues)
        .member("storage", stats.storage);
  }
  return out;
}

}  // namespace switchyard
