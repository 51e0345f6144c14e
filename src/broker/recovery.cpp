// Broker::recovery_report — what opening each durable destination found (switchyard/recovery.hpp).
#include <algorithm>
#include <tuple>

#include "broker/lookup.hpp"
#include "switchyard/broker.hpp"

namespace switchyard {

RecoveryReport Broker::recovery_report() const {
  RecoveryReport report;
  for (const auto& queue : detail::all_of<detail::QueueState>(*registry_)) {
    if (queue->durable()) report.streams.push_back(queue->recovery());
  }
  for (const auto& topic : detail::all_of<detail::TopicState>(*registry_)) {
    const auto& partitions = topic->recovery();
    report.streams.insert(report.streams.end(), partitions.begin(), partitions.end());
  }
  std::sort(report.streams.begin(), report.streams.end(),
            [](const StreamRecovery& a, const StreamRecovery& b) {
              return std::tie(a.destination, a.partition) < std::tie(b.destination, b.partition);
            });
  return report;
}

}  // namespace switchyard
