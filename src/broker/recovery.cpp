// Broker::recovery_report — what opening each durable destination found (switchyard/recovery.hpp).
#include <algorithm>
#include <tuple>

#include "queue/queue_state.hpp"
#include "route/broker_core.hpp"
#include "switchyard/broker.hpp"
#include "topic/topic_state.hpp"

namespace switchyard {

RecoveryReport Broker::recovery_report() const {
  RecoveryReport report;
  for (const auto& d : core_->all()) {
    if (d->kind() == detail::DestinationKind::queue) {
      const auto& queue = static_cast<const detail::QueueState&>(*d);
      if (queue.durable()) report.streams.push_back(queue.recovery());
    } else if (d->kind() == detail::DestinationKind::topic) {
      const auto& partitions = static_cast<const detail::TopicState&>(*d).recovery();
      report.streams.insert(report.streams.end(), partitions.begin(), partitions.end());
    }
  }
  std::sort(report.streams.begin(), report.streams.end(),
            [](const StreamRecovery& a, const StreamRecovery& b) {
              return std::tie(a.destination, a.partition) < std::tie(b.destination, b.partition);
            });
  return report;
}

}  // namespace switchyard
