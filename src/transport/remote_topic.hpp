// src/transport/remote_topic.hpp — the seam that lets a topic's name be "remote": a topic a
// transport (switchyard/transport.hpp) holds, as the broker's registry, producers and group
// consumers see it.
//
// What the core does with one (src/broker/declare.cpp): `declare_topic` with
// `TopicOptions::transport` asks the transport to `open_topic`, which checks the options
// against its capabilities (typed errors there) and returns this; the registry keeps it under
// the name with `kind() == remote_topic`, so every look-up that wants a local topic
// (`subscribe_queue`, the catalog, the stats of local topics) refuses it by kind, and
// `Producer::send` reaches `accept` / `accept_fields` like any destination. `group_consumer`
// calls `join`. `close(drain)` at delete or shutdown: with `drain`, flushes what was accepted
// (bounded by the transport's timeout) before it returns.
//
// Completions: a remote topic `defers_completion()`: the send returns once the transport has
// the record in its buffer (the receipt names the partition; its offset is not known yet), and
// `on_complete` fires once the cluster acknowledged it (`Persisted::replicated`, with the
// offset) or refused it (a typed error) — on the transport's delivery thread.
#pragma once

#include <memory>
#include <string_view>

#include "switchyard/group_consumer.hpp"
#include "switchyard/transport.hpp"
#include "topic/group_member.hpp"
#include "topic/topic_base.hpp"

namespace switchyard::detail {

class RemoteTopic : public TopicBase {
 public:
  [[nodiscard]] DestinationKind kind() const noexcept final {
    return DestinationKind::remote_topic;
  }
  /// The transport this topic lives on.
  [[nodiscard]] virtual const Transport& transport() const noexcept = 0;
  /// A new member of `group` (not empty). Throws `Error`: `invalid_argument` for an option the
  /// transport cannot carry, `closed` after close, `io_error` when the client cannot be made.
  [[nodiscard]] virtual std::shared_ptr<GroupMember> join(std::string_view group,
                                                          GroupConsumerOptions options) = 0;
  /// The bridge's counters, connection and members' lag (transport.hpp). @note threadsafe
  [[nodiscard]] virtual RemoteTopicStats remote_stats() const = 0;
  /// Whether a member of any group is open (delete_topic's `if_unused`). @note threadsafe
  [[nodiscard]] virtual bool has_members() const noexcept = 0;
};

}  // namespace switchyard::detail
