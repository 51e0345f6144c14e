// The Queue handle. The state behind it: queue_state.hpp.
#include "switchyard/queue.hpp"

#include "queue/queue_state.hpp"

namespace switchyard {

const std::string& Queue::name() const noexcept {
  return state_->name();
}
const QueueOptions& Queue::options() const noexcept {
  return state_->options();
}
QueueStats Queue::stats() const {
  return state_->stats();
}
std::size_t Queue::depth() const noexcept {
  return state_->depth();
}
bool Queue::closed() const noexcept {
  return state_->closed_for_send();
}
std::size_t Queue::purge() noexcept {
  return state_->purge();
}
std::vector<PeekedMessage> Queue::peek(std::size_t max) const {
  return state_->peek(max);
}

}  // namespace switchyard
