// Broker::metrics — the Prometheus text exposition of every destination's counters.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "broker/lookup.hpp"
#include "pubsub/pubsub_hub.hpp"
#include "switchyard/broker.hpp"

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

/// The families of one kind of destination: each call writes one family, a sample per
/// destination (labelled with its name) of `field(its stats)`. The stats are read once.
template <class State>
class KindFamilies {
 public:
  using Stats = decltype(std::declval<const State&>().stats());

  KindFamilies(std::string& out, const char* label_name, std::vector<std::shared_ptr<State>> states)
      : out_(out), label_name_(label_name), states_(std::move(states)) {
    stats_.reserve(states_.size());
    for (const auto& state : states_) stats_.push_back(state->stats());
  }

  template <class Field>
  void operator()(const Family& f, Field field) {
    std::vector<std::pair<std::string, double>> samples;
    for (std::size_t i = 0; i < states_.size(); ++i) {
      samples.emplace_back(states_[i]->name(), static_cast<double>(field(stats_[i])));
    }
    family(out_, f, label_name_, samples);
  }

  [[nodiscard]] const std::vector<std::shared_ptr<State>>& states() const noexcept {
    return states_;
  }
  [[nodiscard]] const std::vector<Stats>& stats() const noexcept { return stats_; }

 private:
  std::string& out_;
  const char* label_name_;
  std::vector<std::shared_ptr<State>> states_;
  std::vector<Stats> stats_;
};

/// One gauge per group: its lag over all partitions (no family when no topic has a group).
void write_group_lag(std::string& out,
                     const std::vector<std::shared_ptr<detail::TopicState>>& topics,
                     const std::vector<TopicStats>& ts) {
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
}

void write_queue_families(std::string& out, const detail::Registry& registry) {
  KindFamilies<detail::QueueState> queue_family(out, "queue",
                                                detail::all_of<detail::QueueState>(registry));
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
}

void write_exchange_families(std::string& out, const detail::Registry& registry) {
  KindFamilies<detail::ExchangeState> exchange_family(
      out, "exchange", detail::all_of<detail::ExchangeState>(registry));
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

/// The topics' families, then every group's lag (labelled with topic and group).
void write_topic_families(std::string& out, const detail::Registry& registry) {
  KindFamilies<detail::TopicState> topic_family(out, "topic",
                                                detail::all_of<detail::TopicState>(registry));
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
  write_group_lag(out, topic_family.states(), topic_family.stats());
}

}  // namespace

std::string Broker::metrics() const {
  std::string out;
  write_queue_families(out, *registry_);
  write_exchange_families(out, *registry_);
  write_topic_families(out, *registry_);
  fmt::format_to(std::back_inserter(out),
                 "# HELP switchyard_pubsub_subscriptions Live channel and pattern subscriptions.\n"
                 "# TYPE switchyard_pubsub_subscriptions gauge\n"
                 "switchyard_pubsub_subscriptions {}\n",
                 pubsub_->subscriptions());
  return out;
}

}  // namespace switchyard
