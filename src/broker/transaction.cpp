// Transactions: parts buffered in the handle, checked, logged at the commit point, applied.
// Design and semantics: include/switchyard/transaction.hpp; the log: broker/transaction_log.hpp.
#include "switchyard/transaction.hpp"

#include <limits>

#include "broker/storage_context.hpp"
#include "broker/transaction_log.hpp"
#include "queue/queue_state.hpp"
#include "route/registry.hpp"
#include "switchyard/broker.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace detail {

/// What a Transaction holds until commit or abort. One thread at a time (Transaction's rule).
struct TransactionState {
  struct Send {
    LoggedSend logged;  // destination, options and the message (its id set at commit)
    Headers headers;
    std::function<void(const Result<SendReceipt>&)> on_complete;
  };
  struct Offset {
    GroupConsumer* member;
    std::uint32_t partition;
    std::uint64_t offset;
  };

  std::shared_ptr<Registry> registry;
  std::shared_ptr<StorageContext> storage;  // null: no data_dir, nothing logged
  Producer producer;
  std::vector<Send> sends;
  std::vector<Delivery*> acks;
  std::vector<Offset> offsets;
  bool open = true;

  /// The options `send` was called with, viewing `s` (valid while `s` lives).
  static SendOptions options_of(const Send& s) {
    SendOptions o;
    o.key = s.logged.message.key;
    o.partition = s.logged.partition;
    o.headers = s.headers;
    o.priority = s.logged.message.priority;
    o.delay = Duration(s.logged.delay_ns);
    o.ttl = Duration(s.logged.ttl_ns);
    o.group = s.logged.message.group;
    o.dedup_id = s.logged.dedup_id;
    o.on_complete = s.on_complete;
    return o;
  }
};

namespace {

std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

Failure closed_failure(const TransactionState* state) {
  return state == nullptr ? Failure{Errc::closed, "empty transaction (default-constructed)"}
                          : Failure{Errc::closed, "transaction already committed or aborted"};
}

/// A message of `s` with id `id`, built by `producer` (interceptors' on_send run here).
Result<Message> build(Producer& producer, const TransactionState::Send& s, MessageId id) {
  const SendOptions options = TransactionState::options_of(s);
  return Access::make(producer, s.logged.destination, s.logged.message.payload, options, id);
}

}  // namespace

/// Recovery's last step (broker/transaction_log.hpp): sends an interrupted commit's unapplied
/// sends again, with their ids, then closes its transactions. Throws `Error` on a log failure.
void finish_transaction_recovery(const std::shared_ptr<Registry>& registry, TransactionLog& log) {
  if (log.pending() == 0) return;
  Producer producer = Access::make<Producer>(registry);
  for (LoggedSend& logged : log.unapplied_sends()) {
    TransactionState::Send s{.logged = std::move(logged), .headers = {}, .on_complete = {}};
    s.headers = Headers(s.logged.message.headers);
    auto message = build(producer, s, s.logged.message.id);
    if (!message) continue;  // refused as before the crash: nothing to redo
    // A destination gone since (not declared again) or refusing now: the part cannot be
    // applied any more, as a send to it at commit would have failed; logged by the registry's
    // hooks as any failed send is not — so it is logged here.
    auto sent = Access::deliver(producer, s.logged.destination, std::move(*message),
                                TransactionState::options_of(s));
    if (!sent) {
      registry->hooks()->log().log(LogLevel::warning, "transaction",
                                   "an interrupted transaction's send to '{}' could not be applied "
                                   "again after the restart: {}",
                                   s.logged.destination, sent.message());
    }
  }
  if (auto finished = log.finish(); !finished) {
    throw Error(finished.code(), "transaction log: " + finished.message());
  }
}

}  // namespace detail

Transaction::Transaction() noexcept = default;
Transaction::Transaction(std::unique_ptr<detail::TransactionState> state) noexcept
    : state_(std::move(state)) {}
Transaction::Transaction(Transaction&&) noexcept = default;
Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    abort();
    state_ = std::move(other.state_);
  }
  return *this;
}
Transaction::~Transaction() {
  abort();
}

bool Transaction::open() const noexcept {
  return state_ && state_->open;
}

std::size_t Transaction::size() const noexcept {
  return state_ ? state_->sends.size() + state_->acks.size() + state_->offsets.size() : 0;
}

void Transaction::abort() noexcept {
  if (!state_) return;
  state_->open = false;
  state_->sends.clear();
  state_->acks.clear();
  state_->offsets.clear();
}

Status Transaction::send(std::string_view destination, std::string_view payload,
                         const SendOptions& options) {
  return send(destination, detail::as_bytes(payload), options);
}

Status Transaction::publish(std::string_view exchange, std::string_view routing_key,
                            std::string_view payload, SendOptions options) {
  options.key = routing_key;
  return send(exchange, detail::as_bytes(payload), options);
}

Status Transaction::send(std::string_view destination, std::span<const std::byte> payload,
                         const SendOptions& options) {
  if (!open()) return detail::closed_failure(state_.get());
  constexpr std::size_t kMaxShort = std::numeric_limits<std::uint16_t>::max();
  if (destination.size() > kMaxShort || options.key.size() > kMaxShort ||
      options.group.size() > kMaxShort || options.dedup_id.size() > kMaxShort) {
    return Status(Errc::invalid_argument,
                  "destination, key, group and dedup id are at most 65535 bytes");
  }
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
    return Status(Errc::payload_too_large, "payload above 4 GiB");
  }
  if (options.delay.count() < 0 || options.ttl.count() < 0) {
    return Status(Errc::invalid_argument, "delay and ttl must not be negative");
  }
  detail::TransactionState::Send s;
  s.logged.destination.assign(destination);
  s.logged.dedup_id.assign(options.dedup_id);
  s.logged.partition = options.partition;
  s.logged.delay_ns = options.delay.count();
  s.logged.ttl_ns = options.ttl.count();
  s.logged.message.priority = options.priority;
  s.logged.message.key.assign(options.key);
  s.logged.message.group.assign(options.group);
  s.logged.message.headers.assign(options.headers.begin(), options.headers.end());
  s.logged.message.payload.assign(payload.begin(), payload.end());
  s.headers = options.headers;
  s.on_complete = options.on_complete;
  state_->sends.push_back(std::move(s));
  return {};
}

Status Transaction::ack(Delivery& delivery) {
  if (!open()) return detail::closed_failure(state_.get());
  if (!delivery) return Status(Errc::invalid_delivery, "empty delivery");
  if (delivery.settled()) return Status(Errc::stale_delivery, "delivery already settled");
  for (const Delivery* d : state_->acks) {
    if (d == &delivery) {
      return Status(Errc::invalid_delivery, "delivery already acked in this transaction");
    }
  }
  state_->acks.push_back(&delivery);
  return {};
}

Status Transaction::commit_offset(GroupConsumer& member, std::uint32_t partition,
                                  std::uint64_t offset) {
  if (!open()) return detail::closed_failure(state_.get());
  if (!member) return Status(Errc::closed, "empty group consumer");
  if (auto owned = member.position(partition); !owned) return owned.failure();
  state_->offsets.push_back({&member, partition, offset});
  return {};
}

Result<std::vector<MessageId>> Transaction::commit() {
  using R = Result<std::vector<MessageId>>;
  if (!open()) return R(detail::closed_failure(state_.get()));
  detail::TransactionState& st = *state_;
  st.open = false;  // closed whatever the outcome
  struct Clear {
    detail::TransactionState& st;
    ~Clear() {
      st.sends.clear();
      st.acks.clear();
      st.offsets.clear();
    }
  } clear{st};
  if (st.registry->closed()) return R(Errc::closed, "broker is shut down");

  // 1. Check every part; nothing is done if one fails.
  for (std::size_t i = 0; i < st.sends.size(); ++i) {
    const std::string& name = st.sends[i].logged.destination;
    if (!st.registry->find(name)) {
      return R(Errc::unknown_destination,
               "transaction send " + std::to_string(i) + ": no destination named '" + name + "'");
    }
  }
  for (const auto& o : st.offsets) {
    if (auto owned = o.member->position(o.partition); !owned) return R(owned.failure());
    auto committed = o.member->committed(o.partition);
    auto lag = o.member->lag(o.partition);
    if (!committed) return R(committed.failure());
    if (!lag) return R(lag.failure());
    if (o.offset > *committed + *lag) {
      return R(Errc::out_of_range, "transaction offset " + std::to_string(o.offset) +
                                       " of partition " + std::to_string(o.partition) +
                                       " is past the log end " + std::to_string(*committed + *lag));
    }
  }
  for (Delivery* d : st.acks) {
    // Renewing the lease checks the delivery is still held and keeps it so for the commit.
    if (auto held = d->extend(); !held) return R(held.failure());
  }

  // 2. Ids and messages: the log names each send's message by the id it will carry.
  std::vector<Message> messages;
  std::vector<MessageId> ids;
  messages.reserve(st.sends.size());
  ids.reserve(st.sends.size());
  for (auto& s : st.sends) {
    const MessageId id = detail::Access::next_id(st.producer);
    auto message = detail::build(st.producer, s, id);
    if (!message) return R(message.failure());
    const detail::MessageBody* body = detail::Access::body(*message);
    s.logged.message.id = id;
    s.logged.message.timestamp_ns = body->timestamp_ns;
    messages.push_back(std::move(*message));
    ids.push_back(id);
  }

  // 3. The commit point.
  detail::TransactionLog* log = st.storage ? &st.storage->transactions() : nullptr;
  std::uint64_t tx_id = 0;
  if (log != nullptr && st.sends.size() + st.acks.size() + st.offsets.size() > 0) {
    detail::LoggedTransaction tx;
    tx.id = tx_id = log->next_id();
    for (const auto& s : st.sends) tx.sends.push_back(s.logged);
    for (const Delivery* d : st.acks) {
      tx.acks.push_back({detail::Access::owner(*d)->queue()->name(), d->id()});
    }
    for (const auto& o : st.offsets) {
      tx.offsets.push_back({o.member->topic_name(), o.member->group_name(), o.partition, o.offset});
    }
    if (auto logged = log->write_commit(tx); !logged) return R(logged.failure());
  }

  // 4. Apply: sends, offsets, acks. A part refused now (a queue that filled up since the check
  // and rejects, a rebalance) cannot be undone for the others: the first such failure is
  // returned, naming the part; the rest are applied.
  Failure first;
  auto failed = [&](std::string what, const Failure& f) {
    if (first.code == Errc::ok) {
      first = {f.code, "transaction committed, but " + what + " was refused: " + f.message};
    }
  };
  for (std::size_t i = 0; i < st.sends.size(); ++i) {
    const auto& s = st.sends[i];
    auto sent = detail::Access::deliver(st.producer, s.logged.destination, std::move(messages[i]),
                                        detail::TransactionState::options_of(s));
    if (!sent) {
      failed("send " + std::to_string(i) + " to '" + s.logged.destination + "'", sent.failure());
    } else {
      ids[i] = *sent;  // a deduplicated send: the id first sent with its dedup id
    }
  }
  for (const auto& o : st.offsets) {
    if (auto done = o.member->commit(o.partition, o.offset); !done) {
      failed("the offset of partition " + std::to_string(o.partition), done.failure());
    }
  }
  for (Delivery* d : st.acks) {
    if (auto done = d->ack(); !done)
      failed("the ack of message " + std::to_string(d->id()), done.failure());
  }
  if (log != nullptr && tx_id != 0) {
    if (auto done = log->write_done(tx_id); !done) {
      // The parts are applied; a restart applies them again, idempotently.
      st.registry->hooks()->log().log(LogLevel::warning, "transaction",
                                      "transaction {}: its done record was not written: {}", tx_id,
                                      done.message());
    }
  }
  if (first.code != Errc::ok) return R(std::move(first));
  return ids;
}

Transaction Broker::begin() {
  auto state = std::make_unique<detail::TransactionState>();
  state->registry = registry_;
  state->storage = storage_;
  state->producer = detail::Access::make<Producer>(registry_);
  return detail::Access::make<Transaction>(std::move(state));
}

}  // namespace switchyard
