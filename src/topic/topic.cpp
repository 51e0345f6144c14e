// The Topic handle. The state behind it: topic_state.hpp.
#include "switchyard/topic.hpp"

#include "topic/topic_base.hpp"
#include "util/murmur2.hpp"

namespace switchyard {

const std::string& Topic::name() const noexcept {
  return state_->name();
}
const TopicOptions& Topic::options() const noexcept {
  return state_->options();
}
std::uint32_t Topic::partitions() const noexcept {
  return state_->partitions();
}
TopicStats Topic::stats() const {
  return state_->stats();
}
std::optional<GroupStats> Topic::group_stats(std::string_view group) const {
  return state_->group_stats(group);
}
std::uint32_t Topic::partition_for(std::string_view key) const noexcept {
  return detail::kafka_partition(key, state_->partitions());
}
bool Topic::closed() const noexcept {
  return state_->closed_for_send();
}

}  // namespace switchyard
