// src/topic/group_member.hpp — the state behind a `GroupConsumer` handle, as the handle sees
// it: a member of a group of a topic of this process (GroupConsumerState, topic_state.hpp) or
// of a group a transport runs (a Kafka consumer: transport/kafka/kafka_member.hpp).
//
// Each member's contract is the handle's (switchyard/group_consumer.hpp): one thread at a time,
// except `wakeup`, `ready_fd`, `clock`, `ready_timeout` and the names. A member that cannot do
// something (a transport without the capability) returns `invalid_argument` naming it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/group_consumer.hpp"

namespace switchyard::detail {

class GroupMember {
 public:
  GroupMember() = default;
  GroupMember(const GroupMember&) = delete;
  GroupMember& operator=(const GroupMember&) = delete;
  virtual ~GroupMember() = default;

  virtual Result<PollBatch> poll(std::size_t max, Duration timeout) noexcept = 0;
  /// Clears `batch` (keeping its capacity) and fills it.
  virtual Status poll(PollBatch& batch, std::size_t max, Duration timeout) noexcept = 0;
  virtual Status commit() noexcept = 0;
  virtual Status commit(std::uint32_t partition, std::uint64_t offset) noexcept = 0;
  virtual Status seek(std::uint32_t partition, std::uint64_t offset) noexcept = 0;
  virtual Status set_paused(std::uint32_t partition, bool paused) noexcept = 0;
  [[nodiscard]] virtual std::vector<std::uint32_t> assignment() const = 0;
  [[nodiscard]] virtual Result<std::uint64_t> position(std::uint32_t partition) const noexcept = 0;
  [[nodiscard]] virtual Result<std::uint64_t> lag(std::uint32_t partition) const noexcept = 0;
  [[nodiscard]] virtual Result<std::uint64_t> committed(std::uint32_t partition) const noexcept = 0;
  virtual void wakeup() noexcept = 0;
  virtual void close() noexcept = 0;
  virtual Result<int> ready_fd() noexcept = 0;
  [[nodiscard]] virtual const Clock& clock() const noexcept = 0;
  [[nodiscard]] virtual const std::string& topic_name() const noexcept = 0;
  [[nodiscard]] virtual const std::string& group_name() const noexcept = 0;
};

}  // namespace switchyard::detail
