// Broker::recovery_report — what opening each durable destination found (switchyard/recovery.hpp)
// — and its repairs on the log (broker/recovery.hpp).
#include "broker/recovery.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "broker/lookup.hpp"
#include "switchyard/broker.hpp"

namespace switchyard {

namespace detail {

void log_recovery(const Hooks& hooks, const StreamRecovery& stream) noexcept {
  if (!hooks.logging() || !stream.repaired()) return;
  const Logger& log = hooks.log();
  const bool queue = stream.kind == StreamRecovery::Kind::queue;
  // "queue 'orders'" or "topic 'clicks' partition 3"
  std::string what;
  try {
    what = queue
               ? "queue '" + stream.destination + "'"
               : "topic '" + stream.destination + "' partition " + std::to_string(stream.partition);
  } catch (...) {
    return;  // out of memory: the report still has it all
  }
  for (const std::string& event : stream.events) {
    log.log(LogLevel::warning, "recovery", "{}: {}", what, event);
  }
  log.log(LogLevel::warning, "recovery",
          "{} repaired: {} records in {} segments kept ({} restored); {} torn-tail bytes "
          "truncated, {} half-created segments removed, {} damaged regions ({} bytes) skipped; "
          "{} ms",
          what, stream.records, stream.segments, stream.restored, stream.truncated_bytes,
          stream.removed_segments, stream.corrupt_regions_skipped, stream.corrupt_bytes_skipped,
          std::chrono::duration_cast<std::chrono::milliseconds>(stream.elapsed).count());
}

}  // namespace detail

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
