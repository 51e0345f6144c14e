// Broker::metrics — the Prometheus text exposition of every destination's counters.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "switchyard/broker.hpp"
#include "switchyard/detail/broker_core.hpp"
#include "switchyard/detail/exchange_state.hpp"
#include "switchyard/detail/pubsub_hub.hpp"
#include "switchyard/detail/queue_state.hpp"

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
  for (const auto& d : core_->all()) {
    if (d->kind() == detail::DestinationKind::queue) {
      queues.push_back(std::static_pointer_cast<detail::QueueState>(d));
    } else if (d->kind() == detail::DestinationKind::exchange) {
      exchanges.push_back(std::static_pointer_cast<detail::ExchangeState>(d));
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a->name() < b->name(); };
  std::sort(queues.begin(), queues.end(), by_name);
  std::sort(exchanges.begin(), exchanges.end(), by_name);

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
  queue_family({"switchyard_queue_delivered_total", "counter", "Deliveries, redeliveries included."},
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
  queue_family({"switchyard_queue_deduplicated_total", "counter", "Sends seen again in the window."},
               [](const QueueStats& s) { return s.deduplicated; });
  queue_family({"switchyard_queue_rejected_full_total", "counter", "Sends refused: queue full."},
               [](const QueueStats& s) { return s.rejected_full; });
  queue_family({"switchyard_queue_handler_errors_total", "counter", "Push handlers that threw."},
               [](const QueueStats& s) { return s.handler_errors; });

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
  exchange_family({"switchyard_exchange_rejected_total", "counter", "Copies a destination refused."},
                  [](const ExchangeStats& s) { return s.rejected; });
  exchange_family({"switchyard_exchange_bindings", "gauge", "Bindings."},
                  [](const ExchangeStats& s) { return s.bindings; });

  fmt::format_to(std::back_inserter(out),
                 "# HELP switchyard_pubsub_subscriptions Live channel and pattern subscriptions.\n"
                 "# TYPE switchyard_pubsub_subscriptions gauge\n"
                 "switchyard_pubsub_subscriptions {}\n",
                 core_->pubsub->subscriptions());
  return out;
}

}  // namespace switchyard
