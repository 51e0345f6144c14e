// The Broker's lifecycle (open, shutdown), its pub/sub members and the Producer it hands out.
// Declare, look-up and delete: declare.cpp; the catalog: broker_catalog.cpp; metrics: metrics.cpp.
#include "switchyard/broker.hpp"

#include <thread>

#include "pubsub/pubsub_hub.hpp"
#include "route/broker_core.hpp"
#include "storage/dir_lock.hpp"
#include "switchyard/detail/deadline.hpp"
#include "util/access.hpp"

namespace switchyard {

Broker::Broker() : Broker(BrokerOptions{}) {}

Broker::Broker(BrokerOptions options)
    : core_(std::make_shared<detail::BrokerCore>(
          options.clock ? std::move(options.clock) : SystemClock::instance(),
          std::move(options.interceptors))) {
  core_->pubsub = std::make_shared<detail::PubSubHub>(core_->clock());
  if (!options.data_dir.empty()) {
    auto lock = detail::DirLock::acquire(options.data_dir);
    if (!lock) throw Error(lock.code(), lock.message());
    core_->data_dir = options.data_dir;
    core_->salvage = options.salvage;
    core_->segment_bytes = options.segment_bytes;
    core_->data_dir_lock = std::make_shared<detail::DirLock>(std::move(*lock));
    core_->open_ids(options.data_dir);
    open_catalog();
  }
}

Broker::~Broker() {
  shutdown(Shutdown::stop);
}

std::vector<std::string> Broker::destinations() const {
  std::vector<std::string> names;
  for (const auto& d : core_->all()) names.push_back(d->name());
  return names;
}

Producer Broker::producer() const {
  return detail::Access::make<Producer>(core_);
}

bool Broker::shutdown(Shutdown mode, Duration timeout) {
  if (core_->closed()) return true;
  core_->close();
  const auto destinations = core_->all();
  bool drained = true;
  if (mode == Shutdown::drain) {
    for (const auto& d : destinations) d->close(true);
    // Real time, not the broker's clock: a manual clock must not make shutdown hang.
    const auto deadline = detail::deadline_after(std::chrono::steady_clock::now(), timeout);
    for (const auto& d : destinations) {
      while (!d->idle()) {
        if (std::chrono::steady_clock::now() >= deadline) {
          drained = false;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
  for (const auto& d : destinations) d->close(false);
  core_->pubsub->close();
  return drained;
}

const std::shared_ptr<Clock>& Broker::clock() const noexcept {
  return core_->clock();
}

Subscription Broker::subscribe(std::string_view channel, Subscription::Handler handler,
                               const SubscriberOptions& options) try {
  return detail::Access::make<Subscription>(
      core_->pubsub->subscribe(channel, false, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to channel", channel);
}

Subscription Broker::psubscribe(std::string_view pattern, Subscription::Handler handler,
                                const SubscriberOptions& options) try {
  return detail::Access::make<Subscription>(
      core_->pubsub->subscribe(pattern, true, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to pattern", pattern);
}

std::size_t Broker::publish(std::string_view channel, std::string_view payload,
                            const Headers& headers) {
  auto* body = detail::MessageBody::create(
      channel, {}, {reinterpret_cast<const std::byte*>(payload.data()), payload.size()},
      !headers.empty());
  Message message = detail::Access::adopt(body);
  body->id = core_->reserve_ids(1);
  const Stamp stamp = core_->clock()->stamp();
  body->timestamp_ns = stamp.wall.time_since_epoch().count();
  body->sent_ns = stamp.now.time_since_epoch().count();
  if (!headers.empty()) body->mutable_extras().headers = headers;
  return core_->pubsub->publish(message);
}

}  // namespace switchyard
