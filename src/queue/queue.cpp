// The Queue handle: a queue of this process (queue_state.hpp) or one a transport holds
// (remote_queue.hpp).
#include "switchyard/queue.hpp"

#include "queue/queue_state.hpp"
#include "queue/remote_queue.hpp"

namespace switchyard {

Queue::Queue(std::shared_ptr<detail::RemoteQueue> remote) noexcept : remote_(std::move(remote)) {}

const std::string& Queue::name() const noexcept {
  return remote_ ? remote_->name() : state_->name();
}
const QueueOptions& Queue::options() const noexcept {
  return remote_ ? remote_->options() : state_->options();
}
QueueStats Queue::stats() const {
  return remote_ ? remote_->stats() : state_->stats();
}
std::size_t Queue::depth() const noexcept {
  return remote_ ? remote_->depth() : state_->depth();
}
bool Queue::closed() const noexcept {
  return remote_ ? !remote_->accepting() : state_->closed_for_send();
}
std::size_t Queue::purge() noexcept {
  return remote_ ? remote_->purge() : state_->purge();
}
std::vector<PeekedMessage> Queue::peek(std::size_t max) const {
  if (remote_) {
    throw Error(Errc::invalid_argument,
                "queue '" + remote_->name() + "' lives on " +
                    std::string(remote_->transport().name()) + ", which cannot peek");
  }
  return state_->peek(max);
}

}  // namespace switchyard
