// switchyard/mirror.hpp — a topic's records sent on to another destination, at least once: the
// outbox and the migration of Kafka's MirrorMaker, in either direction between this process and
// a cluster, or between two destinations of one broker.
//
//   auto kafka = switchyard::kafka::connect({.bootstrap_servers = "localhost:9092"});
//   broker.declare_topic("orders", {.partitions = 3});                          // local
//   broker.declare_topic("orders-out", {.partitions = 3, .transport = kafka});  // on Kafka
//   switchyard::Mirror outbox(broker, "orders", "orders-out");
//
// What it does: a member of the group `MirrorOptions::group` on the source topic polls it; each
// record is forwarded (`Producer::forward`: key, headers, timestamp and payload, the payload
// shared) to the destination — a topic, queue or exchange, here or on a transport, so a Kafka
// topic can be mirrored into a local queue as well. A record counts as mirrored when its send
// completed (`SendOptions::on_complete`: a durable destination's durability, a Kafka topic's
// acknowledgement); the group's offset is committed only past records that are mirrored. So
// nothing the source holds is skipped, whatever fails and whenever the process stops: what was
// not committed is sent again by the next mirror of that group (at-least-once; a destination
// that must not see a record twice deduplicates, e.g. by `SendOptions::dedup_id`).
//
// Order: records of a source partition are sent in its order. A send that fails (refused at
// once, or completing with an error) is tried again, with the records after it in its partition,
// after `retry_delay`: the destination may then see some of those twice, never one of them
// skipped. Failures are counted and the last one kept (`stats`), never swallowed. A mirror whose
// source topic goes (deleted, or its broker shut down) ends; one that cannot seek back to a
// failed record ends too (`stats().last_error`), and the next mirror of its group resumes at
// the committed offset.
//
// Data structures: the member and a producer (the mirror's thread uses them), and a shared
// tally of the sends of the batch in flight — how many are outstanding and the first failed
// offset per partition — under a mutex, which completions (on whatever thread the destination
// completes on) update and the mirror's thread waits on.
// Threading: one thread per mirror, started on the broker's clock like the broker's own (so a
// `testing::VirtualClock` counts it: it blocks in the member's poll). The destructor and `stop`
// wake it, wait for the batch in flight to complete, commit what was mirrored and join it.
// Thread-safe: `stats` from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "switchyard/broker.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/export.hpp"
#include "switchyard/group_consumer.hpp"

namespace switchyard {

struct MirrorOptions {
  /// The source group whose committed offsets are the mirror's progress; empty:
  /// "mirror:<from>-><to>". A second mirror with the same group shares the work, as members do.
  std::string group{};
  /// Where a group that never committed starts on the source.
  Start start = Start::earliest;
  /// Most records polled, and so in flight, at a time; at least 1.
  std::size_t batch = 256;
  /// Wait before a failed send is tried again (by the broker's clock).
  Duration retry_delay = std::chrono::milliseconds(100);
};

struct MirrorStats {
  std::uint64_t mirrored = 0;  ///< records whose send completed (sent again after a failure: twice)
  std::uint64_t failed = 0;    ///< sends refused or completed with an error (each tried again)
  std::uint64_t commits = 0;   ///< commits of the source group's offsets
  std::string last_error{};    ///< the last failure's message (empty: none yet)
};

class SWITCHYARD_EXPORT Mirror {
 public:
  /// Joins the source topic `from` as a member of the mirror's group and starts mirroring into
  /// `to`. Throws what `Broker::group_consumer` throws (`unknown_destination` for a topic that is
  /// not declared, ...), and `Error(invalid_argument)` for `batch` 0, a negative `retry_delay`,
  /// or a destination `to` that is not declared.
  Mirror(Broker& broker, std::string from, std::string to, MirrorOptions options = {});
  /// `stop()`.
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  /// Ends the mirror: the batch in flight completes, what was mirrored is committed, the mirror's
  /// thread is joined. Idempotent; not concurrently with itself.
  void stop() noexcept;
  [[nodiscard]] MirrorStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace switchyard
