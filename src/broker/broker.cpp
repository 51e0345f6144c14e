// The Broker's lifecycle (open, shutdown), its pub/sub members and the Producer it hands out.
// Declare, look-up and delete: declare.cpp; the catalog: broker_catalog.cpp; metrics: metrics.cpp.
#include "switchyard/broker.hpp"

#include <algorithm>
#include <thread>

#include "broker/lookup.hpp"
#include "broker/queue_lifetime.hpp"
#include "broker/storage_context.hpp"
#include "broker/transaction_log.hpp"
#include "pubsub/pubsub_hub.hpp"
#include "route/registry.hpp"
#include "storage/segment_log.hpp"
#include "switchyard/detail/deadline.hpp"
#include "util/access.hpp"

namespace switchyard {

Broker::Broker() : Broker(BrokerOptions{}) {}

Broker::Broker(BrokerOptions options)
    : registry_(std::make_shared<detail::Registry>(
          options.clock ? std::move(options.clock) : SystemClock::instance(),
          std::move(options.interceptors), options.log)),  // the storage context copies it too
      pubsub_(std::make_shared<detail::PubSubHub>(registry_->clock(), registry_->hooks())),
      expiry_(std::make_shared<detail::QueueExpiry>(registry_->clock())) {
  if (auto storage = detail::check_storage_options(options.storage); !storage) {
    throw Error(storage.code(), "BrokerOptions: " + storage.message());
  }
  if (!options.data_dir.empty()) {
    storage_ = std::make_shared<detail::StorageContext>(options, registry_->clock());
    registry_->open_ids(options.data_dir, storage_);
    open_catalog();
    // After every durable destination is open: an interrupted commit's sends, applied again.
    detail::finish_transaction_recovery(registry_, storage_->transactions());
  }
}

Broker::~Broker() {
  shutdown(Shutdown::stop);
  // Every destination is closed for good and writes nothing more: the directory is free for
  // the next broker, whatever handles of this one are still alive (they get `closed`).
  if (storage_) registry_->release_storage();
}

std::vector<DestinationInfo> Broker::destinations() const {
  std::vector<DestinationInfo> listed;
  for (const auto& d : registry_->all()) listed.push_back({d->name(), d->kind()});
  std::sort(listed.begin(), listed.end(),
            [](const DestinationInfo& a, const DestinationInfo& b) { return a.name < b.name; });
  return listed;
}

Producer Broker::producer() const {
  return detail::Access::make<Producer>(registry_);
}

bool Broker::shutdown(Shutdown mode, Duration timeout) {
  if (registry_->closed()) return true;
  registry_->close();
  expiry_->stop();  // nothing expires during or after a shutdown
  const auto destinations = registry_->all();
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
  pubsub_->close();
  return drained;
}

const std::shared_ptr<Clock>& Broker::clock() const noexcept {
  return registry_->clock();
}

Subscription Broker::subscribe(std::string_view channel, Subscription::Handler handler,
                               const SubscriberOptions& options) try {
  return detail::Access::make<Subscription>(
      pubsub_->subscribe(channel, false, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to channel", channel);
}

Subscription Broker::psubscribe(std::string_view pattern, Subscription::Handler handler,
                                const SubscriberOptions& options) try {
  return detail::Access::make<Subscription>(
      pubsub_->subscribe(pattern, true, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to pattern", pattern);
}

std::size_t Broker::publish(std::string_view channel, std::string_view payload,
                            const Headers& headers) {
  const detail::Hooks& hooks = *registry_->hooks();
  Headers stamped;
  if (hooks.intercepting()) [[unlikely]] {
    stamped = headers;
    hooks.each("on_send", [&](Interceptor& i) { i.on_send(channel, stamped); });
  }
  const Headers& sent = hooks.intercepting() ? stamped : headers;
  if (hooks.intercepting()) [[unlikely]] {
    if (Failure refused = hooks.refused(channel, sent); refused.code != Errc::ok) {
      throw Error(refused.code, refused.message.empty()
                                    ? "publish on '" + std::string(channel) + "' refused"
                                    : std::move(refused.message));
    }
  }
  auto* body = detail::MessageBody::create(
      channel, {}, {reinterpret_cast<const std::byte*>(payload.data()), payload.size()},
      !sent.empty());
  Message message = detail::Access::adopt(body);
  body->id = registry_->reserve_ids(1);
  const Stamp stamp = registry_->clock()->stamp();
  body->timestamp_ns = stamp.wall.time_since_epoch().count();
  body->sent_ns = stamp.now.time_since_epoch().count();
  if (!sent.empty()) body->mutable_extras().headers = sent;
  return pubsub_->publish(message);
}

}  // namespace switchyard
