// src/topic/topic_base.hpp — what a `Topic` handle shows of the topic behind it: one of this
// process (TopicState, topic_state.hpp) or one a transport holds (RemoteTopic,
// transport/remote_topic.hpp). The registry keeps either under the topic's name; its
// `kind()` (`topic` or `remote_topic`) tells them apart.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "route/destination.hpp"
#include "switchyard/topic.hpp"

namespace switchyard::detail {

class TopicBase : public Destination {
 public:
  [[nodiscard]] virtual const TopicOptions& options() const noexcept = 0;
  [[nodiscard]] virtual std::uint32_t partitions() const noexcept = 0;
  /// As `Topic::stats()`; a remote topic's counts are this process's view of it.
  [[nodiscard]] virtual TopicStats stats() const = 0;
  [[nodiscard]] virtual std::optional<GroupStats> group_stats(std::string_view group) const = 0;
  /// Refusing sends (deleted, or the broker stopped). @note threadsafe
  [[nodiscard]] virtual bool closed_for_send() const noexcept = 0;
};

}  // namespace switchyard::detail
