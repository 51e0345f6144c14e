// switchyard/stats.hpp — the broker-wide snapshot `Broker::stats()`: every queue, topic (its
// partitions and groups), exchange, pub/sub subscription and the storage, as plain structs; and
// its JSON form. `Broker::metrics()` (Prometheus text) is written from the same snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/exchange.hpp"
#include "switchyard/histogram.hpp"
#include "switchyard/pubsub.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/topic.hpp"
#include "switchyard/transport.hpp"

namespace switchyard {

/// The counters of the durable storage: every segment log of every durable destination (a
/// queue's messages and settlements, each topic partition) of one broker, since it was
/// constructed. All 0 for a broker without a `data_dir`. Each counter is exact; the snapshot
/// as a whole is not atomic.
struct StorageStats {
  std::uint64_t bytes_written = 0;  ///< record bytes appended (headers and padding included)
  std::uint64_t records_written = 0;
  /// Syncs issued (msync of a segment range, each part of a group commit or of an `always`
  /// append counted once), failed ones included.
  std::uint64_t syncs = 0;
  std::uint64_t sync_failures = 0;     ///< syncs that failed: their log went read-only
  LatencyHistogram sync_latency;       ///< how long each sync took (real time)
  std::uint64_t segments = 0;          ///< segment files open now, all logs
  std::uint64_t segments_created = 0;  ///< new segment files (rolls, first segments)
  std::uint64_t segments_deleted = 0;  ///< removed by retention or an acknowledged prefix
  std::uint64_t logs_recovered = 0;    ///< logs opened (and so recovered) by this broker
  /// Repairs recovery made, one per event line of `Broker::recovery_report()`: torn tails
  /// truncated, half-created segments removed, damaged regions skipped (salvage).
  std::uint64_t recovery_events = 0;
  friend bool operator==(const StorageStats&, const StorageStats&) = default;
};

/// One live pub/sub subscription, as `Broker::stats()` lists it.
struct SubscriptionEntry {
  /// Unique within the broker, in subscribe order from 1: tells apart two subscriptions to
  /// one channel (the `subscription` label of the metrics).
  std::uint64_t id = 0;
  std::string channel;   ///< the channel, or the glob pattern of a `psubscribe`
  bool pattern = false;  ///< subscribed with `psubscribe`
  SubscriptionStats stats;
};

/// Everything `Broker::stats()` reports. Each vector is sorted by name (subscriptions by id);
/// each counter is exact, the tree as a whole is not one atomic snapshot (destinations are read
/// one after another while traffic flows).
struct BrokerStats {
  std::vector<QueueStats> queues;
  std::vector<TopicStats> topics;  ///< with their partitions and groups
  /// The bridges of topics a transport holds (those are in `topics` too: what this process
  /// produced and the cluster acknowledged).
  std::vector<RemoteTopicStats> remote_topics;
  /// The bridges of queues and exchanges a transport holds (the queues are in `queues` too:
  /// their depth and consumers as the server counts them).
  std::vector<RemoteQueueStats> remote_queues;
  std::vector<ExchangeStats> exchanges;
  std::vector<SubscriptionEntry> subscriptions;
  StorageStats storage;
};

/// `stats` as one JSON object (UTF-8, no trailing newline):
///   {"queues":[{"name":…, "depth":…, …, "delivery_age":{histogram}}, …],
///    "topics":[{"name":…, …, "partitions":[…], "groups":[{…, "partitions":[…]}]}],
///    "exchanges":[…], "subscriptions":[{"id":…, "channel":…, "pattern":…, …}],
///    "storage":{…, "sync_latency":{histogram}}}
/// Every member of every struct is a key of the same name; a histogram is
///   {"count":N, "sum_seconds":S, "buckets":[{"le":seconds, "count":cumulative}, …]}
/// with one bucket per bound of `LatencyHistogram::kBoundsNs` (the +Inf bucket is "count").
/// Names are escaped as JSON requires; bytes that are not valid UTF-8 become U+FFFD.
[[nodiscard]] std::string to_json(const BrokerStats& stats);

}  // namespace switchyard
