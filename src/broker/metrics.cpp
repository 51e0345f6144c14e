// Broker::metrics — `Broker::stats()` in the Prometheus text exposition format (0.0.4): the
// same snapshot as the JSON form, so the two never disagree.
#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/broker.hpp"
#include "switchyard/stats.hpp"

namespace switchyard {

namespace {

/// Escapes a label value as the exposition format requires (backslash, quote, newline).
std::string label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

struct Family {
  const char* name;
  const char* type;  // counter, gauge or histogram
  const char* help;
};

/// One sample: its labels, written already (`queue="jobs",partition="0"`), and its value.
struct Sample {
  std::string labels;
  std::uint64_t value;
};

void header(std::string& out, const Family& f) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name,
                 f.type);
}

/// Writes one family: HELP, TYPE, then each sample (nothing when there is none).
void family(std::string& out, const Family& f, const std::vector<Sample>& samples) {
  if (samples.empty()) return;
  header(out, f);
  for (const auto& [labels, value] : samples) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", f.name, labels, value);
  }
}

/// `name="value"`, escaped.
std::string one_label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, label(value));
}

/// Writes one family with a sample per element of `all`, labelled `label_name` = its name.
template <class Stats, class Field>
void per_destination(std::string& out, const char* label_name, const std::vector<Stats>& all,
                     const Family& f, Field field) {
  std::vector<Sample> samples;
  samples.reserve(all.size());
  for (const Stats& s : all) {
    samples.push_back({one_label(label_name, s.name), static_cast<std::uint64_t>(field(s))});
  }
  family(out, f, samples);
}

/// A histogram family: per (labels, histogram), cumulative `_bucket`s by `le` in seconds, then
/// `_sum` (seconds) and `_count`.
void histogram(std::string& out, const Family& f,
               const std::vector<std::pair<std::string, LatencyHistogram>>& series) {
  if (series.empty()) return;
  header(out, f);
  auto bucket = [&](const std::string& labels, std::string_view le, std::uint64_t count) {
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", f.name, labels,
                   labels.empty() ? "" : ",", le, count);
  };
  for (const auto& [labels, h] : series) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyHistogram::kBoundsNs.size(); ++i) {
      cumulative += h.counts[i];
      bucket(labels, fmt::format("{}", static_cast<double>(LatencyHistogram::kBoundsNs[i]) / 1e9),
             cumulative);
    }
    cumulative += h.counts.back();
    bucket(labels, "+Inf", cumulative);
    const std::string braces = labels.empty() ? std::string() : "{" + labels + "}";
    fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", f.name, braces,
                   static_cast<double>(h.sum_ns) / 1e9, f.name, braces, cumulative);
  }
}

void write_queue_families(std::string& out, const std::vector<QueueStats>& queues) {
  auto queue_family = [&](const Family& f, auto field) {
    per_destination(out, "queue", queues, f, field);
  };
  queue_family({"switchyard_queue_depth", "gauge", "Ready and delayed messages."},
               [](const QueueStats& s) { return s.depth; });
  queue_family({"switchyard_queue_in_flight", "gauge", "Delivered, unacknowledged messages."},
               [](const QueueStats& s) { return s.in_flight; });
  queue_family({"switchyard_queue_consumers", "gauge", "Open consumers."},
               [](const QueueStats& s) { return s.consumers; });
  queue_family({"switchyard_queue_enqueued_total", "counter", "Accepted sends."},
               [](const QueueStats& s) { return s.enqueued; });
  queue_family(
      {"switchyard_queue_delivered_total", "counter", "Deliveries, redeliveries included."},
      [](const QueueStats& s) { return s.delivered; });
  queue_family({"switchyard_queue_redelivered_total", "counter", "Redeliveries."},
               [](const QueueStats& s) { return s.redelivered; });
  queue_family({"switchyard_queue_acked_total", "counter", "Acknowledged deliveries."},
               [](const QueueStats& s) { return s.acked; });
  queue_family({"switchyard_queue_nacked_total", "counter", "Negatively acknowledged deliveries."},
               [](const QueueStats& s) { return s.nacked; });
  queue_family({"switchyard_queue_dead_lettered_total", "counter", "Messages sent to the DLQ."},
               [](const QueueStats& s) { return s.dead_lettered; });
  queue_family({"switchyard_queue_expired_total", "counter", "Messages whose TTL ran out."},
               [](const QueueStats& s) { return s.expired; });
  queue_family({"switchyard_queue_dropped_total", "counter", "Messages dropped by policy."},
               [](const QueueStats& s) { return s.dropped; });
  queue_family(
      {"switchyard_queue_deduplicated_total", "counter", "Sends seen again in the window."},
      [](const QueueStats& s) { return s.deduplicated; });
  queue_family({"switchyard_queue_rejected_full_total", "counter", "Sends refused: queue full."},
               [](const QueueStats& s) { return s.rejected_full; });
  queue_family({"switchyard_queue_handler_errors_total", "counter", "Push handlers that threw."},
               [](const QueueStats& s) { return s.handler_errors; });
  queue_family({"switchyard_queue_recovered_total", "counter",
                "Unsettled messages restored when the queue was opened."},
               [](const QueueStats& s) { return s.recovered; });
  queue_family({"switchyard_queue_recovery_truncated_bytes_total", "counter",
                "Torn-tail bytes truncated when the queue was opened."},
               [](const QueueStats& s) { return s.recovery_truncated_bytes; });
  queue_family({"switchyard_queue_recovery_removed_segments_total", "counter",
                "Half-created segments removed when the queue was opened."},
               [](const QueueStats& s) { return s.recovery_removed_segments; });
  queue_family({"switchyard_queue_recovery_skipped_regions_total", "counter",
                "Damaged regions skipped (salvage) when the queue was opened."},
               [](const QueueStats& s) { return s.recovery_skipped_regions; });
  queue_family({"switchyard_queue_recovery_skipped_bytes_total", "counter",
                "Bytes of damaged regions skipped (salvage) when the queue was opened."},
               [](const QueueStats& s) { return s.recovery_skipped_bytes; });
  std::vector<std::pair<std::string, LatencyHistogram>> ages;
  for (const QueueStats& q : queues) ages.emplace_back(one_label("queue", q.name), q.delivery_age);
  histogram(out,
            {"switchyard_queue_delivery_age_seconds", "histogram",
             "Message age at delivery: from the send to the receive that took it."},
            ages);
}

void write_exchange_families(std::string& out, const std::vector<ExchangeStats>& exchanges) {
  auto exchange_family = [&](const Family& f, auto field) {
    per_destination(out, "exchange", exchanges, f, field);
  };
  exchange_family({"switchyard_exchange_routed_total", "counter", "Messages matching a binding."},
                  [](const ExchangeStats& s) { return s.routed; });
  exchange_family({"switchyard_exchange_deliveries_total", "counter", "Copies handed on."},
                  [](const ExchangeStats& s) { return s.deliveries; });
  exchange_family({"switchyard_exchange_unroutable_total", "counter", "Messages matching nothing."},
                  [](const ExchangeStats& s) { return s.unroutable; });
  exchange_family(
      {"switchyard_exchange_rejected_total", "counter", "Copies a destination refused."},
      [](const ExchangeStats& s) { return s.rejected; });
  exchange_family({"switchyard_exchange_bindings", "gauge", "Bindings."},
                  [](const ExchangeStats& s) { return s.bindings; });
}

/// The topics' families, their partitions' offsets, then every group's lag (in total and per
/// partition), committed offsets and members.
void write_topic_families(std::string& out, const std::vector<TopicStats>& topics) {
  auto topic_family = [&](const Family& f, auto field) {
    per_destination(out, "topic", topics, f, field);
  };
  topic_family({"switchyard_topic_appended_total", "counter", "Records appended."},
               [](const TopicStats& s) { return s.appended; });
  topic_family({"switchyard_topic_retained", "gauge", "Records in the logs now."},
               [](const TopicStats& s) { return s.retained; });
  topic_family({"switchyard_topic_retained_bytes", "gauge", "Key and payload bytes retained."},
               [](const TopicStats& s) { return s.bytes; });
  topic_family({"switchyard_topic_missed_total", "counter", "Records readers missed to retention."},
               [](const TopicStats& s) { return s.missed; });
  topic_family(
      {"switchyard_topic_fanned_out_total", "counter", "Copies given to subscribed queues."},
      [](const TopicStats& s) { return s.fanned_out; });
  topic_family({"switchyard_topic_fan_out_failed_total", "counter", "Copies a queue refused."},
               [](const TopicStats& s) { return s.fan_out_failed; });
  topic_family({"switchyard_topic_recovered_total", "counter",
                "Records found in the logs when the topic was opened."},
               [](const TopicStats& s) { return s.recovered; });
  topic_family({"switchyard_topic_recovery_truncated_bytes_total", "counter",
                "Torn-tail bytes truncated when the topic was opened."},
               [](const TopicStats& s) { return s.recovery_truncated_bytes; });
  topic_family({"switchyard_topic_recovery_removed_segments_total", "counter",
                "Half-created segments removed when the topic was opened."},
               [](const TopicStats& s) { return s.recovery_removed_segments; });
  topic_family({"switchyard_topic_recovery_skipped_regions_total", "counter",
                "Damaged regions skipped (salvage) when the topic was opened."},
               [](const TopicStats& s) { return s.recovery_skipped_regions; });
  topic_family({"switchyard_topic_recovery_skipped_bytes_total", "counter",
                "Bytes of damaged regions skipped (salvage) when the topic was opened."},
               [](const TopicStats& s) { return s.recovery_skipped_bytes; });

  std::vector<Sample> start, end, group_lag, members, partition_lag, committed;
  for (const TopicStats& t : topics) {
    const std::string topic = one_label("topic", t.name);
    for (const PartitionStats& p : t.partitions) {
      const std::string labels = fmt::format("{},partition=\"{}\"", topic, p.partition);
      start.push_back({labels, p.start_offset});
      end.push_back({labels, p.end_offset});
    }
    for (const GroupStats& g : t.groups) {
      const std::string group = topic + "," + one_label("group", g.name);
      group_lag.push_back({group, g.lag});
      members.push_back({group, g.members});
      for (const GroupPartitionStats& p : g.partitions) {
        const std::string labels = fmt::format("{},partition=\"{}\"", group, p.partition);
        partition_lag.push_back({labels, p.lag});
        committed.push_back({labels, p.committed});
      }
    }
  }
  family(out,
         {"switchyard_topic_partition_start_offset", "gauge",
          "Offset of the oldest retained record (the log end when empty)."},
         start);
  family(out,
         {"switchyard_topic_partition_end_offset", "gauge",
          "Offset the next record will get (the log end)."},
         end);
  family(out, {"switchyard_group_lag", "gauge", "Records behind the log end, all partitions."},
         group_lag);
  family(out, {"switchyard_group_members", "gauge", "Members of the consumer group."}, members);
  family(out,
         {"switchyard_group_partition_lag", "gauge", "Records behind the log end, one partition."},
         partition_lag);
  family(out,
         {"switchyard_group_partition_committed_offset", "gauge",
          "Next offset the group reads after a restart or rebalance."},
         committed);
}

/// The bridges to topics a transport holds: counters, the client's buffer, the connection (one
/// gauge per state, 1 for the current one, as Prometheus enums go) and each group's lag.
void write_remote_topic_families(std::string& out, const std::vector<RemoteTopicStats>& remotes) {
  auto remote_family = [&](const Family& f, auto field) {
    std::vector<Sample> samples;
    for (const RemoteTopicStats& s : remotes) {
      samples.push_back({one_label("topic", s.name) + "," + one_label("transport", s.transport),
                         static_cast<std::uint64_t>(field(s))});
    }
    family(out, f, samples);
  };
  remote_family({"switchyard_remote_topic_produced_total", "counter",
                 "Sends the transport's client accepted."},
                [](const RemoteTopicStats& s) { return s.produced; });
  remote_family(
      {"switchyard_remote_topic_delivered_total", "counter", "Records the cluster acknowledged."},
      [](const RemoteTopicStats& s) { return s.delivered; });
  remote_family({"switchyard_remote_topic_failed_total", "counter",
                 "Sends refused by the client or completed with an error."},
                [](const RemoteTopicStats& s) { return s.failed; });
  remote_family(
      {"switchyard_remote_topic_retried_total", "counter", "Records and requests the client sent again."},
      [](const RemoteTopicStats& s) { return s.retried; });
  remote_family({"switchyard_remote_topic_in_flight_bytes", "gauge",
                 "Key and payload bytes accepted, not yet completed."},
                [](const RemoteTopicStats& s) { return s.in_flight_bytes; });
  remote_family({"switchyard_remote_topic_buffered", "gauge",
                 "Records the client holds, in flight included."},
                [](const RemoteTopicStats& s) { return s.buffered; });
  remote_family({"switchyard_remote_topic_rebalances_total", "counter",
                 "Assignments and revocations of this process's members."},
                [](const RemoteTopicStats& s) { return s.rebalances; });
  remote_family({"switchyard_remote_topic_errors_total", "counter",
                 "Errors the clients reported outside a send."},
                [](const RemoteTopicStats& s) { return s.errors; });
  std::vector<Sample> connection, lag;
  for (const RemoteTopicStats& s : remotes) {
    const std::string topic = one_label("topic", s.name) + "," + one_label("transport", s.transport);
    for (ConnectionState state :
         {ConnectionState::connecting, ConnectionState::up, ConnectionState::down}) {
      connection.push_back({fmt::format("{},state=\"{}\"", topic, to_string(state)),
                            s.connection == state ? 1u : 0u});
    }
    for (const RemotePartitionLag& l : s.lag) {
      lag.push_back({fmt::format("{},{},partition=\"{}\"", topic, one_label("group", l.group),
                                 l.partition),
                     l.lag});
    }
  }
  family(out,
         {"switchyard_remote_topic_connection", "gauge",
          "1 for the client's connection state (connecting, up, down), 0 for the others."},
         connection);
  family(out,
         {"switchyard_remote_topic_partition_lag", "gauge",
          "Records a member of this process has still to poll, one partition."},
         lag);
}

/// The bridges to queues and exchanges a transport holds, as write_remote_topic_families.
void write_remote_queue_families(std::string& out, const std::vector<RemoteQueueStats>& remotes) {
  auto remote_family = [&](const Family& f, auto field) {
    std::vector<Sample> samples;
    for (const RemoteQueueStats& s : remotes) {
      samples.push_back({fmt::format("{},{},{}", one_label("destination", s.name),
                                     one_label("kind", to_string(s.kind)),
                                     one_label("transport", s.transport)),
                         static_cast<std::uint64_t>(field(s))});
    }
    family(out, f, samples);
  };
  using S = RemoteQueueStats;
  remote_family({"switchyard_remote_queue_published_total", "counter",
                 "Sends handed to the transport's connection."},
                [](const S& s) { return s.published; });
  remote_family({"switchyard_remote_queue_confirmed_total", "counter",
                 "Sends the server confirmed."},
                [](const S& s) { return s.confirmed; });
  remote_family({"switchyard_remote_queue_returned_total", "counter",
                 "Sends the server returned as unroutable."},
                [](const S& s) { return s.returned; });
  remote_family({"switchyard_remote_queue_failed_total", "counter",
                 "Sends the server refused or that were lost with a connection."},
                [](const S& s) { return s.failed; });
  remote_family({"switchyard_remote_queue_delivered_total", "counter",
                 "Deliveries this process's consumers received."},
                [](const S& s) { return s.delivered; });
  remote_family({"switchyard_remote_queue_acked_total", "counter",
                 "Deliveries acknowledged."},
                [](const S& s) { return s.acked; });
  remote_family({"switchyard_remote_queue_requeued_total", "counter",
                 "Deliveries returned to the queue."},
                [](const S& s) { return s.requeued; });
  remote_family({"switchyard_remote_queue_rejected_total", "counter",
                 "Deliveries rejected without requeue (to the dead-letter exchange)."},
                [](const S& s) { return s.rejected; });
  remote_family({"switchyard_remote_queue_republished_total", "counter",
                 "Unconfirmed sends published again after a reconnect."},
                [](const S& s) { return s.republished; });
  remote_family({"switchyard_remote_queue_reconnects_total", "counter",
                 "Connections made again after one dropped."},
                [](const S& s) { return s.reconnects; });
  remote_family({"switchyard_remote_queue_errors_total", "counter",
                 "Connection and channel errors."},
                [](const S& s) { return s.errors; });
  std::vector<Sample> connection;
  for (const RemoteQueueStats& s : remotes) {
    for (ConnectionState state :
         {ConnectionState::connecting, ConnectionState::up, ConnectionState::down}) {
      connection.push_back({fmt::format("{},{},state=\"{}\"", one_label("destination", s.name),
                                        one_label("transport", s.transport), to_string(state)),
                            s.connection == state ? 1u : 0u});
    }
  }
  family(out,
         {"switchyard_remote_queue_connection", "gauge",
          "1 for the connection's state (connecting, up, down), 0 for the others."},
         connection);
}

void write_subscription_families(std::string& out,
                                 const std::vector<SubscriptionEntry>& subscriptions) {
  std::vector<Sample> delivered, dropped, errors, buffered;
  for (const SubscriptionEntry& s : subscriptions) {
    const std::string labels = fmt::format("subscription=\"{}\",{}", s.id,
                                           one_label(s.pattern ? "pattern" : "channel", s.channel));
    delivered.push_back({labels, s.stats.delivered});
    dropped.push_back({labels, s.stats.dropped});
    errors.push_back({labels, s.stats.handler_errors});
    buffered.push_back({labels, s.stats.buffered});
  }
  family(out,
         {"switchyard_subscription_delivered_total", "counter", "Pub/sub handler calls completed."},
         delivered);
  family(out,
         {"switchyard_subscription_dropped_total", "counter",
          "Pub/sub messages lost to a full subscriber buffer."},
         dropped);
  family(out,
         {"switchyard_subscription_handler_errors_total", "counter",
          "Pub/sub handler calls that threw."},
         errors);
  family(out,
         {"switchyard_subscription_buffered", "gauge", "Pub/sub messages waiting for the handler."},
         buffered);
  fmt::format_to(std::back_inserter(out),
                 "# HELP switchyard_pubsub_subscriptions Live channel and pattern subscriptions.\n"
                 "# TYPE switchyard_pubsub_subscriptions gauge\n"
                 "switchyard_pubsub_subscriptions {}\n",
                 subscriptions.size());
}

void write_storage_families(std::string& out, const StorageStats& s) {
  auto scalar = [&](const Family& f, std::uint64_t value) {
    header(out, f);
    fmt::format_to(std::back_inserter(out), "{} {}\n", f.name, value);
  };
  scalar({"switchyard_storage_written_bytes_total", "counter",
          "Record bytes appended to the segment logs."},
         s.bytes_written);
  scalar({"switchyard_storage_written_records_total", "counter",
          "Records appended to the segment logs."},
         s.records_written);
  scalar({"switchyard_storage_syncs_total", "counter", "Syncs of segment ranges, failed included."},
         s.syncs);
  scalar({"switchyard_storage_sync_failures_total", "counter",
          "Failed syncs (their log is read-only)."},
         s.sync_failures);
  histogram(out, {"switchyard_storage_sync_seconds", "histogram", "How long each sync took."},
            {{std::string(), s.sync_latency}});
  scalar({"switchyard_storage_segments", "gauge", "Segment files open, all logs."}, s.segments);
  scalar({"switchyard_storage_segments_created_total", "counter", "Segment files created."},
         s.segments_created);
  scalar({"switchyard_storage_segments_deleted_total", "counter",
          "Segment files deleted by retention or acknowledgement."},
         s.segments_deleted);
  scalar(
      {"switchyard_storage_logs_recovered_total", "counter", "Segment logs opened and recovered."},
      s.logs_recovered);
  scalar({"switchyard_storage_recovery_events_total", "counter",
          "Repairs made by recovery (truncations, removals, skips)."},
         s.recovery_events);
}

}  // namespace

std::string Broker::metrics() const {
  const BrokerStats s = stats();
  std::string out;
  write_queue_families(out, s.queues);
  write_exchange_families(out, s.exchanges);
  write_topic_families(out, s.topics);
  write_remote_topic_families(out, s.remote_topics);
  write_remote_queue_families(out, s.remote_queues);
  write_subscription_families(out, s.subscriptions);
  write_storage_families(out, s.storage);
  return out;
}

}  // namespace switchyard
