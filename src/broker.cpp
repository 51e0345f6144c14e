#include "switchyard/broker.hpp"

#include <cmath>
#include <cstring>
#include <thread>

#include "switchyard/detail/broker_core.hpp"
#include "switchyard/detail/deadline.hpp"
#include "switchyard/detail/dir_lock.hpp"
#include "switchyard/detail/exchange_state.hpp"
#include "switchyard/detail/file.hpp"
#include "switchyard/detail/pubsub_hub.hpp"
#include "switchyard/detail/queue_state.hpp"
#include "switchyard/detail/topic_state.hpp"

namespace switchyard {

namespace {

void check_name(std::string_view name) {
  if (name.empty()) throw Error(Errc::invalid_argument, "destination name must not be empty");
  if (name.size() > 255) {
    throw Error(Errc::invalid_argument,
                "destination name longer than 255 bytes: '" + std::string(name.substr(0, 32)) + "...'");
  }
}

void check_options(std::string_view name, const QueueOptions& options) {
  auto bad = [&](const std::string& what) {
    throw Error(Errc::invalid_argument, "queue '" + std::string(name) + "': " + what);
  };
  if (options.capacity == 0) bad("capacity must be at least 1");
  if (options.capacity > (std::size_t{1} << 32)) bad("capacity above 2^32");
  if (options.prefetch == 0) bad("prefetch must be at least 1");
  if (options.prefetch > (1u << 20)) bad("prefetch above 2^20");
  if (options.send_timeout.count() < 0) bad("send_timeout must not be negative");
  if (options.visibility_timeout.count() < 0) bad("visibility_timeout must not be negative");
  if (options.delay.count() < 0 || options.ttl.count() < 0) bad("delay and ttl must not be negative");
  if (options.dedup_window.count() < 0) bad("dedup_window must not be negative");
  const Backoff& backoff = options.retry_backoff;
  // Written so that NaN fails too: every comparison with NaN is false.
  if (!(backoff.multiplier >= 1.0) || !std::isfinite(backoff.multiplier)) {
    bad("retry_backoff.multiplier must be finite and >= 1");
  }
  if (backoff.initial.count() < 0 || backoff.max.count() < 0) {
    bad("retry_backoff.initial and .max must not be negative");
  }
  if (backoff.max < backoff.initial) bad("retry_backoff.max must not be below .initial");
  if (options.dead_letter == name) bad("a queue cannot be its own dead-letter queue");
}

std::shared_ptr<detail::QueueState> as_queue(const std::shared_ptr<detail::Destination>& d,
                                             std::string_view name) {
  if (!d) throw Error(Errc::unknown_destination, "no queue named '" + std::string(name) + "'");
  if (d->kind() != detail::DestinationKind::queue) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                               detail::to_string(d->kind()) + ", not a queue");
  }
  return std::static_pointer_cast<detail::QueueState>(d);
}

std::shared_ptr<detail::ExchangeState> as_exchange(const std::shared_ptr<detail::Destination>& d,
                                                   std::string_view name) {
  if (!d) throw Error(Errc::unknown_destination, "no exchange named '" + std::string(name) + "'");
  if (d->kind() != detail::DestinationKind::exchange) {
    throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                               detail::to_string(d->kind()) + ", not an exchange");
  }
  return std::static_pointer_cast<detail::ExchangeState>(d);
}

/// Removes every exchange binding and topic subscription that points at `gone`.
void unbind_everywhere(detail::BrokerCore& core, const detail::Destination& gone) {
  for (const auto& d : core.all()) {
    if (d->kind() == detail::DestinationKind::exchange) {
      static_cast<detail::ExchangeState&>(*d).unbind_all(gone);
    } else if (d->kind() == detail::DestinationKind::topic &&
               gone.kind() == detail::DestinationKind::queue) {
      try {
        static_cast<detail::TopicState&>(*d).unsubscribe(gone.name());
      } catch (const Error&) {
        // Not subscribed to this topic.
      }
    }
  }
}

}  // namespace

Error detail::out_of_memory_error(std::string_view what, std::string_view name) noexcept {
  try {
    return Error(Errc::out_of_memory, std::string(what) + " '" + std::string(name) + "'");
  } catch (...) {
    return Error(Errc::out_of_memory, {});  // the code is what a caller tests
  }
}

namespace detail {

namespace {
// The ids file: "SWID", the high-water mark (u64 little-endian), crc32c of the 12 bytes before.
constexpr std::uint64_t kIdReservation = std::uint64_t{1} << 20;
constexpr std::size_t kIdFileBytes = 16;
constexpr char kIdMagic[4] = {'S', 'W', 'I', 'D'};

void put_le(std::byte* out, std::uint64_t v, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint64_t get_le(const std::byte* in, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::to_integer<unsigned>(in[i])) << (8 * i);
  return v;
}
}  // namespace

void BrokerCore::open_ids(const std::filesystem::path& dir) {
  id_file_ = dir / "ids";
  std::uint64_t mark = 1;
  std::error_code ec;
  if (std::filesystem::exists(id_file_, ec)) {
    auto bytes = read_file(id_file_);
    if (!bytes) throw Error(bytes.code(), "message ids: " + bytes.message());
    const std::byte* b = bytes->data();
    if (bytes->size() != kIdFileBytes || std::memcmp(b, kIdMagic, 4) != 0 ||
        get_le(b + 12, 4) != crc32c(std::span(b, 12))) {
      throw Error(Errc::corrupt,
                  "message ids: " + id_file_.string() + " at offset 0: not a valid ids file");
    }
    mark = std::max<std::uint64_t>(get_le(b + 4, 8), 1);
  }
  next_id_.store(mark, std::memory_order_relaxed);
  id_limit_.store(mark, std::memory_order_release);
}

bool BrokerCore::extend_ids(std::uint64_t needed) noexcept {
  std::lock_guard lock(id_mutex_);
  if (needed <= id_limit_.load(std::memory_order_relaxed)) return true;
  const std::uint64_t mark = needed + kIdReservation;
  std::byte bytes[kIdFileBytes];
  std::memcpy(bytes, kIdMagic, 4);
  put_le(bytes + 4, mark, 8);
  put_le(bytes + 12, crc32c(std::span<const std::byte>(bytes, 12)), 4);
  try {
    auto written = write_file_atomically(id_file_, bytes);
    if (!written) {
      id_failure_ = {written.code(), "message ids: " + written.message()};
      return false;
    }
  } catch (const std::bad_alloc&) {
    id_failure_ = {Errc::out_of_memory, "message ids: reserving a block"};
    return false;
  }
  id_limit_.store(mark, std::memory_order_release);
  return true;
}

Failure BrokerCore::id_failure() const {
  std::lock_guard lock(id_mutex_);
  return id_failure_;
}

}  // namespace detail

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

Broker::~Broker() { shutdown(Shutdown::stop); }

Queue Broker::declare_queue(std::string_view name, const QueueOptions& options) try {
  check_name(name);
  check_options(name, options);
  std::shared_ptr<detail::QueueState> dead_letter;
  if (!options.dead_letter.empty()) {
    auto found = core_->find(options.dead_letter);
    if (!found) {
      throw Error(Errc::unknown_destination,
                  "queue '" + std::string(name) + "': dead-letter queue '" + options.dead_letter +
                      "' is not declared (declare it first)");
    }
    dead_letter = as_queue(found, options.dead_letter);
  }
  if (options.durability != Durability::memory && core_->data_dir.empty()) {
    throw Error(Errc::invalid_argument, "queue '" + std::string(name) +
                                            "': a durable queue needs a broker with a data_dir");
  }
  bool inserted = false;
  auto destination = core_->find_or_insert(
      name,
      [&] {
        std::unique_ptr<detail::QueueJournal> journal;
        if (options.durability != Durability::memory) {
          detail::QueueJournalOptions journal_options;
          journal_options.log.durability = options.durability;
          journal_options.log.salvage = core_->salvage;
          if (core_->segment_bytes != 0) {
            journal_options.log.segment_bytes = core_->segment_bytes;
            journal_options.settlement_segment_bytes = core_->segment_bytes;
          }
          journal_options.log.clock = core_->clock();
          journal_options.log.owner = detail::StorageOwner::of(
              detail::OwnerKind::queue, detail::StreamRole::records, name, 0);
          auto opened = detail::QueueJournal::open(
              core_->storage_dir(detail::DestinationKind::queue, name), journal_options);
          if (!opened) {
            throw Error(opened.code(), "queue '" + std::string(name) + "': " + opened.message());
          }
          journal = std::move(*opened);
        }
        auto queue = std::make_shared<detail::QueueState>(std::string(name), options,
                                                          core_->clock(), dead_letter,
                                                          std::move(journal));
        auto recovered = queue->recover();
        if (!recovered) {
          throw Error(recovered.code(), "queue '" + std::string(name) + "': " + recovered.message());
        }
        core_->ensure_ids_above(recovered->second);
        return queue;
      },
      inserted);
  if (inserted) catalog_changed();
  if (!inserted) {
    if (destination->kind() != detail::DestinationKind::queue) {
      throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as a " +
                                             detail::to_string(destination->kind()));
    }
    auto existing = std::static_pointer_cast<detail::QueueState>(destination);
    if (!(existing->options() == options)) {
      throw Error(Errc::option_mismatch, "queue '" + std::string(name) +
                                             "' is already declared with different options");
    }
    return Queue(existing);
  }
  return Queue(std::static_pointer_cast<detail::QueueState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring queue", name);
}

Queue Broker::queue(std::string_view name) const { return Queue(as_queue(core_->find(name), name)); }

bool Broker::contains(std::string_view name) const { return core_->find(name) != nullptr; }

void Broker::delete_queue(std::string_view name, DeleteOptions options) {
  auto gone = core_->erase(name, [&](detail::Destination& d) {
    auto queue = as_queue(std::shared_ptr<detail::Destination>(std::shared_ptr<void>{}, &d), name);
    if (options.if_unused && queue->consumer_count() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' has consumers");
    }
    if (options.if_empty && queue->depth() != 0) {
      throw Error(Errc::in_use, "queue '" + std::string(name) + "' is not empty");
    }
  });
  unbind_everywhere(*core_, *gone);
  gone->close(false);
  if (static_cast<detail::QueueState&>(*gone).durable()) {
    catalog_changed();
    // Best effort: the catalog no longer lists it either way.
    (void)detail::remove_tree(core_->storage_dir(detail::DestinationKind::queue, name));
  }
}

Exchange Broker::declare_exchange(std::string_view name, ExchangeType type,
                                  const ExchangeOptions& options) try {
  check_name(name);
  std::shared_ptr<detail::Destination> alternate;
  if (options.unroutable == Unroutable::alternate) {
    if (options.alternate.empty() || options.alternate == name) {
      throw Error(Errc::invalid_argument, "exchange '" + std::string(name) +
                                              "': Unroutable::alternate needs another destination");
    }
    alternate = core_->find(options.alternate);
    if (!alternate) {
      throw Error(Errc::unknown_destination, "exchange '" + std::string(name) + "': alternate '" +
                                                 options.alternate + "' is not declared");
    }
  }
  bool inserted = false;
  auto destination = core_->find_or_insert(
      name,
      [&] {
        return std::make_shared<detail::ExchangeState>(std::string(name), type, options, alternate);
      },
      inserted);
  if (!inserted) {
    if (destination->kind() != detail::DestinationKind::exchange) {
      throw Error(Errc::option_mismatch, "'" + std::string(name) + "' is already declared as a " +
                                             detail::to_string(destination->kind()));
    }
    auto existing = std::static_pointer_cast<detail::ExchangeState>(destination);
    if (existing->type() != type || !(existing->options() == options)) {
      throw Error(Errc::option_mismatch, "exchange '" + std::string(name) +
                                             "' is already declared with another type or options");
    }
    return Exchange(existing);
  }
  catalog_changed();
  return Exchange(std::static_pointer_cast<detail::ExchangeState>(destination));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("declaring exchange", name);
}

Exchange Broker::exchange(std::string_view name) const {
  return Exchange(as_exchange(core_->find(name), name));
}

void Broker::delete_exchange(std::string_view name, DeleteOptions options) {
  auto gone = core_->erase(name, [&](detail::Destination& d) {
    if (d.kind() != detail::DestinationKind::exchange) {
      throw Error(Errc::unknown_destination, "'" + std::string(name) + "' is a " +
                                                 detail::to_string(d.kind()) + ", not an exchange");
    }
    if (options.if_unused && static_cast<detail::ExchangeState&>(d).binding_count() != 0) {
      throw Error(Errc::in_use, "exchange '" + std::string(name) + "' has bindings");
    }
  });
  unbind_everywhere(*core_, *gone);
  gone->close(false);
  catalog_changed();
}

void Broker::bind(std::string_view exchange, std::string_view destination, std::string_view key,
                  const BindOptions& options) {
  auto source = as_exchange(core_->find(exchange), exchange);
  auto target = core_->find(destination);
  if (!target) {
    throw Error(Errc::unknown_destination, "cannot bind exchange '" + std::string(exchange) +
                                               "' to '" + std::string(destination) +
                                               "': no such destination");
  }
  source->bind(std::move(target), key, options);
  catalog_changed();
}

bool Broker::unbind(std::string_view exchange, std::string_view destination, std::string_view key) {
  auto source = as_exchange(core_->find(exchange), exchange);
  auto target = core_->find(destination);
  if (!target) return false;
  const bool removed = source->unbind(*target, key);
  if (removed) catalog_changed();
  return removed;
}

std::vector<std::string> Broker::destinations() const {
  std::vector<std::string> names;
  for (const auto& d : core_->all()) names.push_back(d->name());
  return names;
}

Producer Broker::producer() const { return Producer(core_); }

Consumer Broker::consumer(std::string_view name, const ConsumerOptions& options) try {
  auto queue = as_queue(core_->find(name), name);
  if (queue->closed_for_receive()) throw Error(Errc::closed, "queue '" + std::string(name) + "' is closed");
  const std::uint32_t prefetch = options.prefetch != 0 ? options.prefetch : queue->options().prefetch;
  if (prefetch > (1u << 20)) throw Error(Errc::invalid_argument, "prefetch above 2^20");
  if (options.workers == 0) {
    throw Error(Errc::invalid_argument,
                "consumer of queue '" + std::string(name) + "': workers must be at least 1");
  }
  auto state = std::make_shared<detail::ConsumerState>(std::move(queue), prefetch, options.wait,
                                                       core_->interceptors());
  return Consumer(std::move(state), options);
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("a consumer of queue", name);
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

const std::shared_ptr<Clock>& Broker::clock() const noexcept { return core_->clock(); }

Subscription Broker::subscribe(std::string_view channel, Subscription::Handler handler,
                               const SubscriberOptions& options) try {
  return Subscription(core_->pubsub->subscribe(channel, false, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to channel", channel);
}

Subscription Broker::psubscribe(std::string_view pattern, Subscription::Handler handler,
                                const SubscriberOptions& options) try {
  return Subscription(core_->pubsub->subscribe(pattern, true, std::move(handler), options));
} catch (const std::bad_alloc&) {
  throw detail::out_of_memory_error("subscribing to pattern", pattern);
}

std::size_t Broker::publish(std::string_view channel, std::string_view payload,
                            const Headers& headers) {
  auto* body = detail::MessageBody::create(
      channel, {}, {reinterpret_cast<const std::byte*>(payload.data()), payload.size()},
      !headers.empty());
  Message message = Message::adopt(body);
  body->id = core_->reserve_ids(1);
  const Stamp stamp = core_->clock()->stamp();
  body->timestamp_ns = stamp.wall.time_since_epoch().count();
  body->sent_ns = stamp.now.time_since_epoch().count();
  if (!headers.empty()) body->mutable_extras().headers = headers;
  return core_->pubsub->publish(message);
}

// --- Queue handle ----------------------------------------------------------------------

const std::string& Queue::name() const noexcept { return state_->name(); }
const QueueOptions& Queue::options() const noexcept { return state_->options(); }
QueueStats Queue::stats() const { return state_->stats(); }
std::size_t Queue::depth() const noexcept { return state_->depth(); }
bool Queue::closed() const noexcept { return state_->closed_for_send(); }

}  // namespace switchyard
