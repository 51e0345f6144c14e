// Broker::metrics — the Prometheus text exposition of every destination's counters.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pubsub/pubsub_hub.hpp"
#include "queue/queue_state.hpp"
#include "route/broker_core.hpp"
#include "route/exchange_state.hpp"
#include "switchyard/broker.hpp"
#include "topic/topic_state.hpp"

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
  const char* type;  // counter or gauge
  const char* help;
};

/// Writes one family: HELP, TYPE, then a sample per (label, value).
void family(std::string& out, const Family& f, const char* label_name,
            const std::vector<std::pair<std::string, double>>& samples) {
  if (samples.empty()) return;
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name,
                 f.type);
  for (const auto& [who, value] : samples) {
    fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", f.name, label_name, label(who),
                   value);
  }
}

}  // namespace

std::string Broker::metrics() const {
  std::vector<std::shared_ptr<detail::QueueState>> queues;
  std::vector<std::shared_ptr<detail::ExchangeState>> exchanges;
  std::vector<std::shared_ptr<detail::TopicState>> topics;
  for (const auto& d : core_->all()) {
    if (d->kind() == detail::DestinationKind::topic) {
      topics.push_back(std::static_pointer_cast<detail::TopicState>(d));
    }
    if (d->kind() == detail::DestinationKind::queue) {
      queues.push_back(std::static_pointer_cast<detail::QueueState>(d));
    } else if (d->kind() == detail::DestinationKind::exchange) {
      exchanges.push_back(std::static_pointer_cast<detail::ExchangeState>(d));
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a->name() < b->name(); };
  std::sort(queues.begin(), queues.end(), by_name);
  std::sort(exchanges.begin(), exchanges.end(), by_name);
  std::sort(topics.begin(), topics.end(), by_name);

  std::string out;
  std::vector<QueueStats> qs;
  qs.reserve(queues.size());
  for (const auto& q : queues) qs.push_back(q->stats());
  auto queue_family = [&](const Family& f, auto field) {
    std::vector<std::pair<std::string, double>> samples;
    for (std::size_t i = 0; i < queues.size(); ++i) {
      samples.emplace_back(queues[i]->name(), static_cast<double>(field(qs[i])));
    }
    family(out, f, "queue", samples);
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

  std::vector<ExchangeStats> xs;
  for (const auto& x : exchanges) xs.push_back(x->stats());
  auto exchange_family = [&](const Family& f, auto field) {
    std::vector<std::pair<std::string, double>> samples;
    for (std::size_t i = 0; i < exchanges.size(); ++i) {
      samples.emplace_back(exchanges[i]->name(), static_cast<double>(field(xs[i])));
    }
    family(out, f, "exchange", samples);
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

  std::vector<TopicStats> ts;
  for (const auto& t : topics) ts.push_back(t->stats());
  auto topic_family = [&](const Family& f, auto field) {
    std::vector<std::pair<std::string, double>> samples;
    for (std::size_t i = 0; i < topics.size(); ++i) {
      samples.emplace_back(topics[i]->name(), static_cast<double>(field(ts[i])));
    }
    family(out, f, "topic", samples);
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
  bool any_group = false;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    for (const GroupStats& g : ts[i].groups) {
      if (!any_group) {
        out +=
            "# HELP switchyard_group_lag Records behind the log end, all partitions.\n"
            "# TYPE switchyard_group_lag gauge\n";
        any_group = true;
      }
      fmt::format_to(std::back_inserter(out),
                     "switchyard_group_lag{{topic=\"{}\",group=\"{}\"}} {}\n",
                     label(topics[i]->name()), label(g.name), g.lag);
    }
  }

  fmt::format_to(std::back_inserter(out),
                 "# HELP switchyard_pubsub_subscriptions Live channel and pattern subscriptions.\n"
                 "# TYPE switchyard_pubsub_subscriptions gauge\n"
                 "switchyard_pubsub_subscriptions {}\n",
                 core_->pubsub->subscriptions());
  return out;
}

}  // namespace switchyard
