// switchyard::rabbitmq (switchyard/rabbitmq.hpp): the transport, its queues and exchanges, the
// publisher thread and the consumers. The threading story, and what a lost connection does,
// are the public header's; here:
//
//   RabbitTransport  the Transport: the control connection (mutex), the Topology and the
//                    Publisher.
//   Topology         what the transport declared (queues, exchanges, bindings), in order, each
//                    as the call that declares it, so a new connection declares it all again
//                    (`replay`) before it publishes or consumes; delete and unbind take their
//                    steps out.
//   Publisher        a connection and its thread. `publish` queues a Job (the message, kept by
//                    reference count, not copied) and wakes the thread (an eventfd); the thread
//                    publishes each on a channel in confirm mode, keeps the job under its
//                    publish sequence number until the server's basic.ack / basic.nack, and
//                    completes it. A basic.return (a mandatory message no queue took) comes
//                    before the ack of the message it returns, but not necessarily just before
//                    (acks of earlier messages may follow it), and returns come in publish
//                    order. A return is matched to its send by what it brings back: the
//                    message-id property, which is the broker's own id of the message unless
//                    the producer set one, with the exchange and routing key — the first such
//                    send after the last one returned — so that ack completes as `unroutable`.
//                    Where that could be ambiguous (a producer's message id, which may repeat;
//                    a headers exchange, whose routing depends on more than the key) the
//                    message carries its sequence number in the `x-switchyard-seq` header
//                    instead, and only then: a headers table on every message costs the
//                    server and this process CPU per message. Consumers strip the header.
//                    On a lost connection the unconfirmed jobs go back, in their order, to the
//                    front of `waiting_` (the sequence numbers start again at 1 on the new
//                    channel), and the thread reconnects (`reconnect`: backoff, deadlines).
//   RabbitQueue      a RemoteQueue: declares with the options as queue arguments, sends through
//                    the Publisher (the default exchange, the queue's name as routing key).
//   RabbitExchange   a RemoteExchange: the same through the exchange, the send's key routing.
//   RabbitConsumer   an InboxSink: its own connection, basic.qos + basic.consume, and a thread
//                    that puts deliveries in the inbox and sends the settlements (queued by any
//                    thread, as for the Publisher). An inbox entry's `seq` is the delivery tag
//                    (low 48 bits) under the consumer's connection generation (high 16 bits,
//                    +1 per reconnect): a settlement of an older generation is stale. The
//                    thread keeps its connection's deliveries in tag order (`outstanding_`)
//                    and acks each batch of settlements' settled prefix with one
//                    basic.ack(multiple) (`settle`); a requeue, a reject, and an ack behind a
//                    delivery still held go alone, at once.
#include <amqp.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "queue/remote_queue.hpp"
#include "route/hooks.hpp"
#include "route/remote_exchange.hpp"
#include "switchyard/exchange.hpp"
#include "switchyard/rabbitmq.hpp"
#include "transport/rabbitmq/amqp_connection.hpp"
#include "util/access.hpp"

namespace switchyard::detail::rabbitmq {
namespace {

using Steady = std::chrono::steady_clock;

/// A send's key, for a queue (an exchange's routing key is the key), and its publish sequence
/// number (to match a basic.return to its ack): headers the consumers take out again.
constexpr std::string_view kKeyHeader = "x-switchyard-key";
constexpr std::string_view kSequenceHeader = "x-switchyard-seq";

/// A counter's atomics, shared by a destination, its jobs and its consumers.
struct Counters {
  std::atomic<std::uint64_t> published{0}, confirmed{0}, returned{0}, failed{0}, republished{0},
      delivered{0}, acked{0}, requeued{0}, rejected{0}, reconnects{0}, errors{0};
  std::atomic<std::int64_t> in_flight{0};
  /// Connections serving this destination (the publisher's, its consumers') that are down now:
  /// the state is `down` while one is.
  std::atomic<int> down{0};
  std::mutex mutex;
  std::string last_error;  // guarded by mutex

  void error(std::string text) noexcept {
    errors.fetch_add(1, std::memory_order_relaxed);
    try {
      std::lock_guard lock(mutex);
      last_error = std::move(text);
    } catch (...) {
    }
  }
  RemoteQueueStats snapshot(const std::string& name, DestinationKind kind) {
    RemoteQueueStats s;
    s.name = name;
    s.transport = "rabbitmq";
    s.kind = kind;
    s.published = published.load(std::memory_order_relaxed);
    s.confirmed = confirmed.load(std::memory_order_relaxed);
    s.returned = returned.load(std::memory_order_relaxed);
    s.failed = failed.load(std::memory_order_relaxed);
    s.republished = republished.load(std::memory_order_relaxed);
    s.delivered = delivered.load(std::memory_order_relaxed);
    s.acked = acked.load(std::memory_order_relaxed);
    s.requeued = requeued.load(std::memory_order_relaxed);
    s.rejected = rejected.load(std::memory_order_relaxed);
    s.reconnects = reconnects.load(std::memory_order_relaxed);
    s.errors = errors.load(std::memory_order_relaxed);
    s.connection = down.load(std::memory_order_relaxed) > 0 ? ConnectionState::down
                                                            : ConnectionState::up;
    std::lock_guard lock(mutex);
    s.last_error = last_error;
    return s;
  }
};

/// An eventfd that wakes a connection's thread out of poll().
class Wakeup {
 public:
  Wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw Error(Errc::io_error, "rabbitmq: eventfd failed");
  }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  ~Wakeup() { ::close(fd_); }
  void notify() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
  void drain() noexcept {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(fd_, &value, sizeof value);
  }
  /// Waits until notified or `until` (no connection to watch: a thread that reconnects).
  void wait_until(Steady::time_point until) noexcept {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Steady::now());
    if (left.count() <= 0) return;
    pollfd fds[1] = {{fd_, POLLIN, 0}};
    const int n = ::poll(fds, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (n > 0) drain();
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

/// Waits until `connection` has input (or has some buffered) or `wakeup` fires, at most
/// `timeout_ms` (-1: no bound). False when the socket failed. With heartbeats the wait is at
/// most half of one, and its end counts as input: the caller's read (with a zero timeout)
/// lets rabbitmq-c send the heartbeat that is due, or find the server silent (it then fails
/// with AMQP_STATUS_HEARTBEAT_TIMEOUT: the connection is lost).
bool wait_readable(const AmqpConnection& connection, Wakeup& wakeup, bool& input,
                   int timeout_ms = -1) {
  input = connection.buffered();
  if (input) return true;
  const int beat = connection.heartbeat_poll_ms();
  const bool beating = beat >= 0 && (timeout_ms < 0 || beat < timeout_ms);
  pollfd fds[2] = {{connection.fd(), POLLIN, 0}, {wakeup.fd(), POLLIN, 0}};
  const int n = ::poll(fds, 2, beating ? beat : timeout_ms);
  if (n == 0 && beating) {
    input = true;
    return true;
  }
  if (n < 0) return errno == EINTR;
  if ((fds[1].revents & POLLIN) != 0) wakeup.drain();
  if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (fds[0].revents & POLLIN) == 0) {
    return false;
  }
  input = (fds[0].revents & POLLIN) != 0;
  return true;
}

/// The waits between reconnect attempts: `reconnect_backoff`, doubled after each, at most
/// `reconnect_backoff_max`; each drawn uniformly from [half, all] of it, so that the consumers
/// of a server that came back do not all knock at once. One per reconnecting thread.
class ReconnectBackoff {
 public:
  explicit ReconnectBackoff(const RabbitOptions& options)
      : current_(options.reconnect_backoff), max_(options.reconnect_backoff_max) {}
  std::chrono::milliseconds next() {
    const std::chrono::milliseconds d = current_;
    current_ = current_ > max_ / 2 ? max_ : current_ * 2;
    std::uniform_int_distribution<std::int64_t> pick(d.count() / 2, d.count());
    return std::chrono::milliseconds(pick(random_));
  }

 private:
  std::chrono::milliseconds current_, max_;
  std::minstd_rand random_{std::random_device{}()};
};

/// Whether `e` says the connection is gone (as opposed to the server refusing one call).
bool connection_lost(const Error& e) noexcept {
  return e.code() == Errc::io_error || e.code() == Errc::timed_out;
}

// --- what the transport declared -------------------------------------------------------------

class Topology {
 public:
  /// Declares (binds) one thing on `connection`'s channel; checked by `replay`.
  using Call = std::function<void(amqp_connection_state_t, amqp_channel_t)>;

  /// Remembers `call`, named `what` for errors, under `id`, after what came before it (a step
  /// with the same `id` is replaced where it was: the same queue declared by two brokers).
  /// `names`: the queues and exchanges it mentions (`forget`).
  void add(std::string id, std::vector<std::string> names, std::string what, Call call) {
    std::lock_guard lock(mutex_);
    for (Step& step : steps_) {
      if (step.id == id) {
        step = Step{std::move(id), std::move(names), std::move(what), std::move(call)};
        return;
      }
    }
    steps_.push_back(Step{std::move(id), std::move(names), std::move(what), std::move(call)});
  }
  void remove(std::string_view id) {
    std::lock_guard lock(mutex_);
    std::erase_if(steps_, [&](const Step& s) { return s.id == id; });
  }
  /// Forgets every step that mentions queue or exchange `name` (it was deleted).
  void forget(std::string_view name) {
    std::lock_guard lock(mutex_);
    std::erase_if(steps_, [&](const Step& s) {
      return std::find(s.names.begin(), s.names.end(), name) != s.names.end();
    });
  }
  /// Declares everything again on `connection`, in order. Throws `Error` when the connection
  /// is lost meanwhile; a step the server refuses goes to `refused` (its error) and is skipped.
  void replay(AmqpConnection& connection,
              const std::function<void(const Error&)>& refused) const {
    std::vector<Step> steps;
    {
      std::lock_guard lock(mutex_);
      steps = steps_;
    }
    for (const Step& step : steps) {
      try {
        step.call(connection.get(), connection.channel());
        connection.check(step.what);
      } catch (const Error& e) {
        if (connection_lost(e)) throw;
        refused(e);
      }
    }
  }

 private:
  struct Step {
    std::string id;
    std::vector<std::string> names;
    std::string what;
    Call call;
  };
  mutable std::mutex mutex_;
  std::vector<Step> steps_;  // guarded by mutex_
};

// --- the publisher ---------------------------------------------------------------------------

struct Job {
  Message message;
  std::string exchange;     // "" for the default exchange (a queue's own name as the key)
  std::string routing_key;
  bool persistent = false;  // delivery_mode 2
  bool mandatory = true;    // the server returns it when no queue takes it
  Persisted persisted = Persisted::memory;  // what a confirm means for this destination
  std::function<void(const Result<SendReceipt>&)> on_complete;
  std::shared_ptr<Counters> counters;
  /// Sends of this destination that may wait for a connection at once (a queue's capacity;
  /// 0: no bound).
  std::size_t limit = 0;
  std::string encoded{};  // an object payload, encoded by its Codec on the sender's thread
  std::uint32_t published = 0;   // times basic.publish was sent for it (the publisher's)
  Steady::time_point deadline{};  // while waiting for a connection: when it fails
  /// The send's ttl in milliseconds (AMQP `expiration`); "": none.
  std::string expiration{};
  /// Routing looks at the message's headers (a headers exchange): a return is matched by the
  /// sequence header (see the file comment).
  bool routed_by_headers = false;
};

class Publisher {
 public:
  Publisher(const RabbitOptions& options, std::shared_ptr<const Topology> topology)
      : options_(options), topology_(std::move(topology)) {
    connection_ = open();
    thread_ = std::thread([this] { run(); });
  }
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  /// Waits for the confirms of everything queued (the drain), at most `request_timeout` (the
  /// rest then fails with `timed_out`), then closes. While disconnected, fails what waits
  /// (`closed`) at once.
  ~Publisher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wakeup_.notify();
    thread_.join();
  }

  /// The connection's state is reported into `counters` (a destination's) from now on.
  void watch(const std::shared_ptr<Counters>& counters) {
    std::lock_guard lock(watched_mutex_);
    std::erase_if(watched_, [](const std::weak_ptr<Counters>& w) { return w.expired(); });
    watched_.push_back(counters);
    if (down_) counters->down.fetch_add(1, std::memory_order_relaxed);
  }

  /// Queues `job`; refused (nothing queued) when stopping, when an object payload does not
  /// encode, or while disconnected when `job.limit` sends of its destination wait already.
  Status publish(Job&& job) noexcept {
    if (job.message.has_object()) {
      try {
        auto encoded = job.message.encoded();
        if (!encoded) return Status(encoded.failure());
        job.encoded = std::move(*encoded);
      } catch (...) {
        return Status(Errc::out_of_memory, "rabbitmq: encoding an object payload");
      }
    }
    // The thread takes every queued job at once (swap under mutex_, after draining the
    // eventfd): only a job queued into an empty jobs_ needs to wake it. One write(2) per run
    // of sends instead of one per send (amqp_publish_consume: ~1 per message saved).
    bool first = false;
    try {
      std::lock_guard lock(mutex_);
      if (stopping_) return Status(Errc::closed, "rabbitmq: the transport is closing");
      if (disconnected_ && job.limit != 0 &&
          job.counters->in_flight.load(std::memory_order_relaxed) >=
              static_cast<std::int64_t>(job.limit)) {
        return Status(Errc::full,
                      fmt::format("rabbitmq: '{}' has {} sends waiting for the connection to "
                                  "the server to come back (its capacity)",
                                  job.routing_key, job.limit));
      }
      job.counters->published.fetch_add(1, std::memory_order_relaxed);
      job.counters->in_flight.fetch_add(1, std::memory_order_relaxed);
      first = jobs_.empty();
      jobs_.push_back(std::move(job));
    } catch (const std::bad_alloc&) {
      return Status(Errc::out_of_memory, "rabbitmq: queueing a publish");
    }
    if (first) wakeup_.notify();
    return {};
  }

 private:
  /// A connection with its channel in confirm mode, everything declared again on it.
  std::unique_ptr<AmqpConnection> open() {
    auto connection = std::make_unique<AmqpConnection>(options_, /*heartbeats=*/true);
    topology_->replay(*connection, [this](const Error& e) { report(e.what()); });
    amqp_confirm_select(connection->get(), connection->channel());
    connection->check("confirm.select");
    return connection;
  }

  /// Each watched destination's counters; `down`: the connection went down (true) or came
  /// back (false); `why`: an error to count (empty: none).
  void each_watched(const std::function<void(Counters&)>& each) noexcept {
    std::lock_guard lock(watched_mutex_);
    for (const auto& weak : watched_) {
      if (auto counters = weak.lock()) each(*counters);
    }
  }
  void report(const std::string& why) noexcept {
    each_watched([&](Counters& c) { c.error(why); });
  }
  void set_down(bool down) noexcept {
    std::lock_guard lock(watched_mutex_);
    if (down_ == down) return;
    down_ = down;
    for (const auto& weak : watched_) {
      if (auto counters = weak.lock()) {
        counters->down.fetch_add(down ? 1 : -1, std::memory_order_relaxed);
        if (!down) counters->reconnects.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  static void complete(Job& job, const Result<SendReceipt>& result) noexcept {
    if (result) {
      job.counters->confirmed.fetch_add(1, std::memory_order_relaxed);
    } else if (result.failure().code == Errc::unroutable) {
      job.counters->returned.fetch_add(1, std::memory_order_relaxed);
    } else {
      job.counters->failed.fetch_add(1, std::memory_order_relaxed);
    }
    if (job.on_complete) {
      try {
        job.on_complete(result);
      } catch (...) {
        // A completion that throws is the user's bug; the publisher goes on.
      }
    }
    job.counters->in_flight.fetch_sub(1, std::memory_order_acq_rel);
  }

  /// Fails `job` with `code` and `why`, saying whether the server may have it.
  static void fail(Job& job, Errc code, std::string_view why) noexcept {
    try {
      complete(job, Result<SendReceipt>(
                        code, fmt::format("rabbitmq: a send to '{}' {}: {}", job.routing_key,
                                          job.published != 0
                                              ? "was not confirmed (the server may or may not "
                                                "have it)"
                                              : "was not sent",
                                          why)));
    } catch (...) {
      complete(job, Result<SendReceipt>(code, "rabbitmq: a send failed"));
    }
  }

  void send(Job& job, std::uint64_t sequence) {
    const Message& m = job.message;
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                   AMQP_BASIC_TIMESTAMP_FLAG;
    props.delivery_mode = job.persistent ? 2 : 1;
    props.priority = m.priority();
    props.timestamp = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(m.timestamp().time_since_epoch())
            .count());
    char digits[24];
    std::string_view id = m.message_id();
    if (id.empty()) {
      id = std::string_view(digits, std::to_chars(digits, digits + sizeof digits, m.id()).ptr);
    }
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes_of(id);
    if (!job.expiration.empty()) {
      props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
      props.expiration = bytes_of(job.expiration);
    }
    // The table points into the message (it outlives the call) and the constants: no copies;
    // `entries_` keeps its capacity from send to send.
    entries_.clear();
    const auto text = [](std::string_view key, std::string_view value) {
      amqp_table_entry_t e{};
      e.key = bytes_of(key);
      e.value.kind = AMQP_FIELD_KIND_UTF8;
      e.value.value.bytes = bytes_of(value);
      return e;
    };
    for (const auto& [name, value] : m.headers()) entries_.push_back(text(name, value));
    if (job.mandatory && (!m.message_id().empty() || job.routed_by_headers)) {
      amqp_table_entry_t seq{};
      seq.key = bytes_of(kSequenceHeader);
      seq.value.kind = AMQP_FIELD_KIND_I64;
      seq.value.value.i64 = static_cast<std::int64_t>(sequence);
      entries_.push_back(seq);
    }
    if (!m.key().empty() && job.exchange.empty()) {
      entries_.push_back(text(kKeyHeader, m.key()));  // an exchange routes by the key instead
    }
    if (!entries_.empty()) {
      props._flags |= AMQP_BASIC_HEADERS_FLAG;
      props.headers = amqp_table_t{static_cast<int>(entries_.size()), entries_.data()};
    }
    const std::span<const std::byte> payload =
        m.has_object() ? std::as_bytes(std::span(job.encoded.data(), job.encoded.size()))
                       : m.payload().bytes();
    const amqp_bytes_t body{payload.size(),
                            const_cast<std::byte*>(payload.data())};
    if (job.published++ != 0) job.counters->republished.fetch_add(1, std::memory_order_relaxed);
    const int status =
        amqp_basic_publish(connection_->get(), connection_->channel(), bytes_of(job.exchange),
                           bytes_of(job.routing_key), job.mandatory ? 1 : 0, /*immediate=*/0,
                           &props, body);
    AmqpConnection::check_status(status, "basic.publish");
  }

  /// The server closed the publisher's channel on an error: what it had not confirmed fails
  /// with the server's code rather than being published again (it would fail again).
  struct ChannelClosed : Error {
    using Error::Error;
  };

  /// Handles one frame the server sent. Throws `Error` for a channel or connection close.
  void handle(const amqp_frame_t& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        settle(ack->delivery_tag, ack->multiple != 0, Errc::ok);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        settle(nack->delivery_tag, nack->multiple != 0, Errc::full);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        amqp_message_t returned;
        const amqp_rpc_reply_t reply =
            amqp_read_message(connection_->get(), frame.channel, &returned, 0);
        if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
          throw AmqpConnection::error_of(Errc::io_error, "reading a returned message",
                                         "its content did not follow");
        }
        struct Destroy {
          amqp_message_t& m;
          ~Destroy() { amqp_destroy_message(&m); }
        } destroy{returned};
        const auto* method =
            static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        if (const auto seq = returned_send(*method, returned.properties)) {
          returned_.insert(*seq);
          last_returned_ = *seq;
        } else {
          report(fmt::format("rabbitmq: a message returned by exchange '{}' (routing key '{}') "
                             "matches no send waiting for its confirm",
                             view_of(method->exchange), view_of(method->routing_key)));
        }
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close =
            static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
        throw ChannelClosed(AmqpConnection::code_of_reply(close->reply_code),
                            fmt::format("rabbitmq: publishing: the server closed the channel: "
                                        "{} {}",
                                        close->reply_code, view_of(close->reply_text)));
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* close =
            static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
        throw AmqpConnection::error_of(
            Errc::io_error, "publishing",
            fmt::format("the server closed the connection: {} {}", close->reply_code,
                        view_of(close->reply_text)));
      }
      default:
        break;
    }
  }

  /// The publish sequence number of the send a basic.return brings back (see the file
  /// comment): its sequence header, else the first pending send after the last one returned
  /// with the broker's id in `message-id` and the same exchange and routing key.
  std::optional<std::uint64_t> returned_send(const amqp_basic_return_t& method,
                                             const amqp_basic_properties_t& p) const {
    if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const amqp_table_entry_t& e = p.headers.entries[i];
        if (view_of(e.key) == kSequenceHeader && e.value.kind == AMQP_FIELD_KIND_I64) {
          return static_cast<std::uint64_t>(e.value.value.i64);
        }
      }
    }
    if ((p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) == 0) return std::nullopt;
    const std::string_view digits = view_of(p.message_id);
    MessageId id = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    const auto after = std::upper_bound(
        pending_.begin(), pending_.end(), last_returned_,
        [](std::uint64_t t, const auto& p) { return t < p.first; });
    for (auto it = after; it != pending_.end(); ++it) {
      const Job& job = it->second;
      if (job.mandatory && job.message.message_id().empty() && job.message.id() == id &&
          job.exchange == view_of(method.exchange) &&
          job.routing_key == view_of(method.routing_key)) {
        return it->first;
      }
    }
    return std::nullopt;
  }

  /// Completes the job `tag` (and, `multiple`, every earlier one still pending).
  void settle(std::uint64_t tag, bool multiple, Errc code) {
    const auto before = [](std::uint64_t t, const auto& p) { return t < p.first; };
    auto end = std::upper_bound(pending_.begin(), pending_.end(), tag, before);
    auto begin = multiple ? pending_.begin() : std::prev(end);
    if (end == pending_.begin() || (!multiple && begin->first != tag)) {
      return;
    }
    for (auto it = begin; it != end; ++it) {
      const bool returned = returned_.erase(it->first) != 0;
      Job& job = it->second;
      if (returned) {
        complete(job, Result<SendReceipt>(Errc::unroutable,
                                          fmt::format("rabbitmq: no queue is bound for routing "
                                                      "key '{}' on exchange '{}'",
                                                      job.routing_key, job.exchange)));
      } else if (code == Errc::ok) {
        SendReceipt receipt;
        receipt.id = job.message.id();
        receipt.persisted = job.persisted;
        complete(job, receipt);
      } else {
        complete(job, Result<SendReceipt>(code, fmt::format("rabbitmq: the server refused the "
                                                            "message (basic.nack) to '{}'",
                                                            job.routing_key)));
      }
    }
    pending_.erase(begin, end);
  }

  void run() noexcept {
    for (;;) {
      try {
        serve();
        return;  // stopped, everything completed
      } catch (const ChannelClosed& e) {
        lost(e.what(), e.code());
      } catch (const std::exception& e) {
        lost(e.what(), std::nullopt);
      }
      if (!reconnect()) return;  // stopped while disconnected
    }
  }

  /// Publishes and completes while the connection lasts. Returns once stopping and
  /// everything is completed (or failed `timed_out`: the drain's bound); throws when the
  /// connection is lost.
  void serve() {
    for (;;) {
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        for (Job& job : jobs_) waiting_.push_back(std::move(job));
        jobs_.clear();
        stopping = stopping_;
      }
      while (!waiting_.empty()) {
        send(waiting_.front(), sequence_ + 1);  // a throw leaves it waiting: sent again
        pending_.emplace_back(++sequence_, std::move(waiting_.front()));
        waiting_.pop_front();
      }
      int timeout_ms = -1;
      if (stopping) {
        if (pending_.empty()) {
          std::lock_guard lock(mutex_);
          if (jobs_.empty()) return;
          continue;
        }
        const auto now = Steady::now();
        if (!close_deadline_) close_deadline_ = now + options_.request_timeout;
        if (now >= *close_deadline_) {
          for (auto& [tag, job] : pending_) {
            fail(job, Errc::timed_out, "closing: the server did not confirm within "
                                       "request_timeout");
          }
          pending_.clear();
          return;
        }
        timeout_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(*close_deadline_ - now)
                .count() + 1);
      }
      bool input = false;
      if (!wait_readable(*connection_, wakeup_, input, timeout_ms)) {
        throw Error(Errc::io_error, "rabbitmq: the publisher's socket failed");
      }
      while (input) {
        amqp_frame_t frame;
        timeval zero{0, 0};
        const int status = amqp_simple_wait_frame_noblock(connection_->get(), &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) break;
        AmqpConnection::check_status(status, "reading the server's confirms");
        handle(frame);
        amqp_maybe_release_buffers(connection_->get());
        input = connection_->buffered();
      }
    }
  }

  /// The connection is lost (`channel_error`: the server closed the channel on an error):
  /// what it had not confirmed goes back to the front of `waiting_`, in its order, to be
  /// published again — or, after a channel error, fails with its code.
  void lost(const std::string& why, std::optional<Errc> channel_error) noexcept {
    connection_.reset();  // closes it (best effort) and frees it
    {
      std::lock_guard lock(mutex_);
      disconnected_ = true;
    }
    set_down(true);
    report(why);
    if (channel_error) {
      for (auto& [tag, job] : pending_) fail(job, *channel_error, why);
      pending_.clear();
    }
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
      try {
        waiting_.push_front(std::move(it->second));
      } catch (...) {
        fail(it->second, Errc::out_of_memory, "keeping it to publish again");
      }
    }
    pending_.clear();
    returned_.clear();
    last_returned_ = 0;
    sequence_ = 0;  // a new channel numbers its publishes from 1
    const auto deadline = Steady::now() + options_.reconnect_timeout;
    for (Job& job : waiting_) job.deadline = deadline;
  }

  /// Makes the connection again, after the backoff, until it succeeds (true) or the publisher
  /// stops (false: what waited failed `closed`). Meanwhile new sends wait, and each fails with
  /// `timed_out` `reconnect_timeout` after it was found waiting.
  bool reconnect() noexcept {
    ReconnectBackoff backoff(options_);
    Steady::time_point attempt = Steady::now();  // the first attempt at once
    for (;;) {
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        const auto deadline = Steady::now() + options_.reconnect_timeout;
        for (Job& job : jobs_) {
          job.deadline = deadline;
          try {
            waiting_.push_back(std::move(job));
          } catch (...) {
            fail(job, Errc::out_of_memory, "keeping it until the connection comes back");
          }
        }
        jobs_.clear();
        stopping = stopping_;
      }
      if (stopping) {
        for (Job& job : waiting_) {
          fail(job, Errc::closed, "the transport closed while the connection to the server "
                                  "was down");
        }
        waiting_.clear();
        return false;
      }
      // Deadlines never decrease along `waiting_` (stamped in order, each later than the last).
      while (!waiting_.empty() && waiting_.front().deadline <= Steady::now()) {
        fail(waiting_.front(), Errc::timed_out,
             fmt::format("the connection to the server did not come back within "
                         "reconnect_timeout ({} ms)",
                         options_.reconnect_timeout.count()));
        waiting_.pop_front();
      }
      if (Steady::now() >= attempt) {
        try {
          connection_ = open();
          {
            std::lock_guard lock(mutex_);
            disconnected_ = false;
          }
          set_down(false);
          return true;
        } catch (const std::exception& e) {
          report(e.what());
          attempt = Steady::now() + backoff.next();
        }
      }
      wakeup_.wait_until(waiting_.empty() ? attempt
                                          : std::min(attempt, waiting_.front().deadline));
    }
  }

  RabbitOptions options_;
  std::shared_ptr<const Topology> topology_;
  Wakeup wakeup_;
  std::mutex mutex_;
  std::deque<Job> jobs_;       // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  bool disconnected_ = false;  // guarded by mutex_
  std::mutex watched_mutex_;
  std::vector<std::weak_ptr<Counters>> watched_;  // guarded by watched_mutex_
  bool down_ = false;                             // guarded by watched_mutex_
  // The thread's own:
  std::unique_ptr<AmqpConnection> connection_;  // null while disconnected
  std::deque<Job> waiting_;               // to publish (again), in order
  /// Published, by publish sequence number (ascending: confirms mostly settle the front).
  std::deque<std::pair<std::uint64_t, Job>> pending_;
  std::uint64_t sequence_ = 0;
  std::vector<amqp_table_entry_t> entries_;  // `send`'s headers table
  std::set<std::uint64_t> returned_;  // sequence numbers returned, their ack still to come
  std::uint64_t last_returned_ = 0;   // the latest of them on this channel (returns are in order)
  std::optional<Steady::time_point> close_deadline_;
  std::thread thread_;
};

// --- the control connection ------------------------------------------------------------------

class Control {
 public:
  explicit Control(const RabbitOptions& options)
      : options_(options), connection_(std::make_unique<AmqpConnection>(options)) {}
  /// Runs `call(connection, channel)` — one synchronous method — and checks its reply. A
  /// connection lost on the way is made again on the next call.
  template <class Call>
  auto run(std::string_view what, Call&& call) {
    std::lock_guard lock(mutex_);
    if (!connection_) connection_ = std::make_unique<AmqpConnection>(options_);
    try {
      if constexpr (std::is_void_v<decltype(call(connection_->get(), connection_->channel()))>) {
        call(connection_->get(), connection_->channel());
        connection_->check(what);
      } else {
        auto out = call(connection_->get(), connection_->channel());
        connection_->check(what);
        return out;
      }
    } catch (const Error& e) {
      if (connection_lost(e)) connection_.reset();
      throw;
    }
  }

 private:
  RabbitOptions options_;
  std::mutex mutex_;
  std::unique_ptr<AmqpConnection> connection_;  // guarded by mutex_; null once lost
};

// --- consumers -------------------------------------------------------------------------------

class RabbitConsumer final : public InboxSink {
 public:
  RabbitConsumer(const RabbitOptions& options, std::shared_ptr<const Topology> topology,
                 std::shared_ptr<QueueState> inbox, const std::string& queue,
                 std::uint32_t prefetch, std::string_view tag,
                 std::shared_ptr<Counters> counters, std::shared_ptr<const Hooks> hooks)
      : options_(options),
        topology_(std::move(topology)),
        queue_(queue),
        tag_(tag),
        prefetch_(prefetch),
        connection_(std::make_unique<AmqpConnection>(options, /*heartbeats=*/true)),
        inbox_(std::move(inbox)),
        counters_(std::move(counters)),
        hooks_(std::move(hooks)) {
    subscribe();
    inbox_->set_inbox(this);
    thread_ = std::thread([this] { run(); });
  }
  RabbitConsumer(const RabbitConsumer&) = delete;
  RabbitConsumer& operator=(const RabbitConsumer&) = delete;
  ~RabbitConsumer() override {
    stop();
    thread_.join();
  }

  Status ack(const Entry& entry) noexcept override {
    Status sent = command({Op::ack, entry.seq});
    if (sent) counters_->acked.fetch_add(1, std::memory_order_relaxed);
    return sent;
  }
  void requeue(Entry&& entry) noexcept override {
    if (command({Op::requeue, entry.seq})) {
      counters_->requeued.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void reject(Entry&& entry, std::string_view /*why*/) noexcept override {
    if (command({Op::reject, entry.seq})) {
      counters_->rejected.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void consumer_closed() noexcept override { stop(); }

 private:
  enum class Op : std::uint8_t { ack, requeue, reject };
  struct Command {
    Op op;
    std::uint64_t seq;  // generation << kTagBits | delivery tag
  };
  static constexpr int kTagBits = 48;
  static constexpr std::uint64_t kTagMask = (std::uint64_t{1} << kTagBits) - 1;

  /// The server ended this consumer (its queue deleted, a channel error): not reconnected.
  struct Ended : Error {
    using Error::Error;
  };

  /// Whether `seq` came on the current connection.
  [[nodiscard]] bool current(std::uint64_t seq) const noexcept {
    // Acquire: pairs with the release in `lost` (a delivery of the old generation, received
    // after, is seen stale).
    return (seq >> kTagBits) == (generation_.load(std::memory_order_acquire) & 0xFFFF);
  }

  Status command(Command c) noexcept {
    bool first = false;  // as Publisher::publish: only a command into an empty queue wakes
    try {
      std::lock_guard lock(mutex_);
      if (done_) {
        return Status(Errc::stale_delivery,
                      "rabbitmq: the consumer's connection is closed; the server has put the "
                      "delivery back");
      }
      if (!current(c.seq)) {
        return Status(Errc::stale_delivery,
                      "rabbitmq: the delivery came on a connection that has dropped since; the "
                      "server has put it back and delivers it again");
      }
      first = commands_.empty();
      commands_.push_back(c);
    } catch (const std::bad_alloc&) {
      return Status(Errc::out_of_memory, "rabbitmq: queueing a settlement");
    }
    if (first) wakeup_.notify();
    return {};
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wakeup_.notify();
  }

  /// basic.qos(prefetch) and basic.consume on `connection_`.
  void subscribe() {
    amqp_connection_state_t c = connection_->get();
    amqp_basic_qos(c, connection_->channel(), 0, static_cast<std::uint16_t>(prefetch_), 0);
    connection_->check(fmt::format("basic.qos {} on '{}'", prefetch_, queue_));
    amqp_basic_consume(c, connection_->channel(), bytes_of(queue_), bytes_of(tag_), 0, 0, 0,
                       amqp_empty_table);
    connection_->check(fmt::format("basic.consume of '{}'", queue_));
  }

  void deliver(amqp_envelope_t& envelope) {
    const amqp_basic_properties_t& p = envelope.message.properties;
    std::uint32_t earlier = envelope.redelivered != 0 ? 1 : 0;
    Headers headers;
    std::string slow_key;  // the key, when worked out from a copy of the headers
    std::string_view key = view_of(envelope.routing_key);
    // Switchyard's own headers alone (the common case) are read off the table, not copied.
    bool own = (p._flags & AMQP_BASIC_HEADERS_FLAG) != 0;
    for (int i = 0; own && i < p.headers.num_entries; ++i) {
      const amqp_table_entry_t& e = p.headers.entries[i];
      own = view_of(e.key) == kSequenceHeader ||
            (view_of(e.key) == kKeyHeader && e.value.kind == AMQP_FIELD_KIND_UTF8);
    }
    if (own) {  // as below, with no dead-letter headers
      if (view_of(envelope.exchange).empty()) key = {};
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const amqp_table_entry_t& e = p.headers.entries[i];
        if (view_of(e.key) == kKeyHeader && key.empty()) key = view_of(e.value.value.bytes);
      }
    } else if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
      slow_key = key;
      headers = headers_of(p.headers);
      std::vector<Headers::value_type> kept;
      // The key a send gave (a send to a queue keeps it in kKeyHeader: its routing key is the
      // queue's name), unless a dead-letter routing key replaced it: a dead letter of a send
      // to a queue (x-first-death-exchange "") keeps the queue's name as its routing key only
      // when the queue has no x-dead-letter-routing-key.
      const auto death_queue = headers.find("x-first-death-queue");
      const bool sent_to_queue = death_queue ? headers.get("x-first-death-exchange").empty()
                                             : view_of(envelope.exchange).empty();
      if (sent_to_queue && (!death_queue || slow_key == *death_queue)) slow_key.clear();
      for (const auto& [name, value] : headers) {
        if (name == "x-delivery-count") {
          // Quorum queues count earlier deliveries; a value that is no number counts as none.
          std::uint32_t count = 0;
          if (std::from_chars(value.data(), value.data() + value.size(), count).ec == std::errc{}) {
            earlier = count;
          }
        } else if (name == kKeyHeader) {
          if (slow_key.empty()) slow_key = value;
        } else if (name == kSequenceHeader) {
          continue;
        } else {
          kept.emplace_back(name, value);
        }
      }
      headers = Headers(kept);
      key = slow_key;
    } else if (view_of(envelope.exchange).empty()) {
      key = {};  // the default exchange's routing key is the queue's name, not a key
    }
    const std::span<const std::byte> payload(
        static_cast<const std::byte*>(envelope.message.body.bytes), envelope.message.body.len);
    const bool extras = !headers.empty() || (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0;
    MessageBody* body = MessageBody::create(key, {}, payload, extras);
    Message message = Access::adopt(body);
    if ((p._flags & AMQP_BASIC_PRIORITY_FLAG) != 0) body->priority = p.priority;
    if ((p._flags & AMQP_BASIC_TIMESTAMP_FLAG) != 0) {
      body->timestamp_ns = static_cast<std::int64_t>(p.timestamp) * 1'000'000'000;
    }
    if (extras) {
      body->mutable_extras().headers = std::move(headers);
      if ((p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
        body->mutable_extras().message_id = std::string(view_of(p.message_id));
      }
    }
    counters_->delivered.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t generation = generation_.load(std::memory_order_relaxed) & 0xFFFF;
    Entry entry{std::move(message), 0, earlier,
                (generation << kTagBits) | (envelope.delivery_tag & kTagMask)};
    if (!inbox_->put_inbox(std::move(entry))) {
      amqp_basic_nack(connection_->get(), connection_->channel(), envelope.delivery_tag, 0, 1);
      return;
    }
    outstanding_.push_back({envelope.delivery_tag, held});
  }

  void run() noexcept {
    std::string why;
    for (;;) {
      try {
        serve();
        break;  // stopping
      } catch (const Ended& e) {
        why = e.what();
        break;
      } catch (const std::exception& e) {
        lost(e.what());
      }
      if (!reconnect()) break;
    }
    {
      std::lock_guard lock(mutex_);
      done_ = true;  // settlements from now on are stale_delivery
    }
    connection_.reset();  // closes it: the server puts back what this consumer had not acked
    if (down_) counters_->down.fetch_sub(1, std::memory_order_relaxed);
    if (!why.empty()) {
      counters_->error(why);
      if (hooks_->logging()) hooks_->log().log(LogLevel::error, "rabbitmq", "{}", why);
      inbox_->close(false);  // its consumer is told `closed`; the server requeues the rest
    }
  }

  /// Sends a batch of settlements: a requeue or a reject at once, each alone; the acks as one
  /// basic.ack(multiple) for the longest prefix of `outstanding_` that is settled, ending at its
  /// last ack; an ack after a delivery still held goes alone (never held back, so that a held
  /// delivery does not keep the others' prefetch slots, and a close loses no ack).
  void settle(const std::deque<Command>& batch) {
    amqp_connection_state_t c = connection_->get();
    const amqp_channel_t ch = connection_->channel();
    std::size_t unsent = 0;  // acks marked, not yet sent
    for (const Command& cmd : batch) {
      if (!current(cmd.seq)) continue;  // of a dropped connection: the server has it back
      const std::uint64_t tag = cmd.seq & kTagMask;
      const auto it = std::lower_bound(
          outstanding_.begin(), outstanding_.end(), tag,
          [](const Outstanding& o, std::uint64_t t) { return o.tag < t; });
      const bool tracked = it != outstanding_.end() && it->tag == tag && it->state == held;
      int status = AMQP_STATUS_OK;
      switch (cmd.op) {
        case Op::ack:
          if (tracked) {
            it->state = acked;
            ++unsent;
            continue;
          }
          status = amqp_basic_ack(c, ch, tag, 0);
          break;
        case Op::requeue:
          status = amqp_basic_nack(c, ch, tag, 0, 1);
          break;
        case Op::reject:
          status = amqp_basic_reject(c, ch, tag, 0);
          break;
      }
      if (tracked) it->state = sent;
      AmqpConnection::check_status(status, "settling a delivery");
    }
    std::uint64_t last = 0;  // the prefix's last unsent ack
    while (!outstanding_.empty() && outstanding_.front().state != held) {
      if (outstanding_.front().state == acked) {
        last = outstanding_.front().tag;
        --unsent;
      }
      outstanding_.pop_front();
    }
    if (last != 0) AmqpConnection::check_status(amqp_basic_ack(c, ch, last, 1), "acking");
    if (unsent == 0) return;
    for (Outstanding& o : outstanding_) {
      if (o.state != acked) continue;
      o.state = sent;
      AmqpConnection::check_status(amqp_basic_ack(c, ch, o.tag, 0), "acking a delivery");
    }
  }

  /// Settles and delivers until stopping (returns) or the connection is lost (throws).
  void serve() {
    outstanding_.clear();  // of the connection before
    std::deque<Command> batch;
    for (;;) {
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        batch.swap(commands_);
        stopping = stopping_;
      }
      settle(batch);
      batch.clear();
      if (stopping) return;
      amqp_connection_state_t c = connection_->get();
      bool input = false;
      if (!wait_readable(*connection_, wakeup_, input)) {
        throw Error(Errc::io_error, "rabbitmq: the consumer's socket failed");
      }
      while (input) {
        amqp_envelope_t envelope;
        timeval zero{0, 0};
        amqp_maybe_release_buffers(c);
        const amqp_rpc_reply_t reply = amqp_consume_message(c, &envelope, &zero, 0);
        if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
          struct Destroy {
            amqp_envelope_t& e;
            ~Destroy() { amqp_destroy_envelope(&e); }
          } destroy{envelope};
          deliver(envelope);
        } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   reply.library_error == AMQP_STATUS_TIMEOUT) {
          break;
        } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
          amqp_frame_t frame;
          AmqpConnection::check_status(amqp_simple_wait_frame(c, &frame), "reading a frame");
          if (frame.frame_type != AMQP_FRAME_METHOD) continue;
          if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            // The server is going away (a shutdown: 320 CONNECTION_FORCED): reconnect.
            throw Error(Errc::io_error, "rabbitmq: consuming: the server closed the connection");
          }
          if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
              frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
            throw Ended(Errc::closed, "rabbitmq: the server ended the consumer (the queue "
                                      "was deleted, or the channel closed)");
          }
        } else {
          throw Error(Errc::io_error,
                      fmt::format("rabbitmq: consuming: {}",
                                  reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                      ? amqp_error_string2(reply.library_error)
                                      : "a server error"));
        }
        input = connection_->buffered();
      }
    }
  }

  /// The connection is lost: its deliveries are the server's again. Those still in the inbox
  /// are dropped; those a user holds are stale from now on (a new generation).
  void lost(const std::string& why) noexcept {
    connection_.reset();
    // Release: pairs with the acquire in `current`.
    generation_.fetch_add(1, std::memory_order_release);
    (void)inbox_->purge();
    if (!down_) {
      down_ = true;
      counters_->down.fetch_add(1, std::memory_order_relaxed);
    }
    counters_->error(why);
    if (hooks_->logging()) {
      hooks_->log().log(LogLevel::warning, "rabbitmq", "consumer of '{}': {}; reconnecting",
                        queue_, why);
    }
  }

  /// Connects again (after the backoff), declares the topology, qos and consume: true; false
  /// when the consumer is closed first.
  bool reconnect() noexcept {
    ReconnectBackoff backoff(options_);
    Steady::time_point attempt = Steady::now();
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return false;
        commands_.clear();  // all of the dropped connection
      }
      if (Steady::now() >= attempt) {
        try {
          connection_ = std::make_unique<AmqpConnection>(options_, /*heartbeats=*/true);
          topology_->replay(*connection_, [this](const Error& e) { counters_->error(e.what()); });
          subscribe();
          down_ = false;
          counters_->down.fetch_sub(1, std::memory_order_relaxed);
          counters_->reconnects.fetch_add(1, std::memory_order_relaxed);
          return true;
        } catch (const std::exception& e) {
          connection_.reset();
          counters_->error(e.what());
          attempt = Steady::now() + backoff.next();
        }
      }
      wakeup_.wait_until(attempt);
    }
  }

  RabbitOptions options_;
  std::shared_ptr<const Topology> topology_;
  std::string queue_;
  std::string tag_;
  std::uint32_t prefetch_;
  std::unique_ptr<AmqpConnection> connection_;  // the thread's (after the constructor)
  std::shared_ptr<QueueState> inbox_;
  std::shared_ptr<Counters> counters_;
  std::shared_ptr<const Hooks> hooks_;
  Wakeup wakeup_;
  /// +1 per lost connection; a delivery's `seq` carries its low 16 bits. Written by the
  /// thread, read by settling threads.
  std::atomic<std::uint64_t> generation_{0};
  /// The thread's: the deliveries of this connection in the inbox or a user's hands, in
  /// delivery (tag) order, until the server has them settled; `settle` acks their prefix.
  enum State : std::uint8_t { held, acked, sent };
  struct Outstanding {
    std::uint64_t tag;
    State state;
  };
  std::deque<Outstanding> outstanding_;
  bool down_ = false;  // the thread's: this consumer counts in counters_->down
  std::mutex mutex_;
  std::deque<Command> commands_;  // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  bool done_ = false;             // guarded by mutex_
  std::thread thread_;
};

/// An inbox and the consumer behind it, one allocation: the inbox handed out aliases it, so
/// the consumer (its sink) lives exactly as long as the inbox's last user; it is destroyed
/// first (its thread joined) and the inbox after.
struct InboxHolder {
  std::shared_ptr<QueueState> inbox;
  std::unique_ptr<RabbitConsumer> consumer;
  std::shared_ptr<std::atomic<int>> live;  // the queue's count of open consumers
  ~InboxHolder() {
    consumer.reset();
    if (live) live->fetch_sub(1, std::memory_order_acq_rel);
  }
};

// --- the transport and its destinations -------------------------------------------------------

class RabbitTransport;

class RabbitQueue final : public RemoteQueue {
 public:
  RabbitQueue(std::shared_ptr<RabbitTransport> transport, std::string name, QueueOptions options,
              std::shared_ptr<Clock> clock, std::shared_ptr<const Hooks> hooks);

  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  /// Refuses sends, and closes this process's consumers' inboxes (`drain`: they may take what
  /// they hold first); the server puts back what they had not acked.
  void close(bool drain) noexcept override;
  [[nodiscard]] bool idle() const noexcept override {
    return counters_->in_flight.load(std::memory_order_acquire) == 0;
  }
  [[nodiscard]] const Transport& transport() const noexcept override;
  [[nodiscard]] const QueueOptions& options() const noexcept override { return options_; }
  std::shared_ptr<QueueState> consume(std::uint32_t prefetch, std::string_view tag) override;
  [[nodiscard]] bool accepting() const noexcept override { return open_.load(); }
  [[nodiscard]] std::size_t depth() const noexcept override;
  [[nodiscard]] QueueStats stats() const override;
  std::size_t purge() noexcept override;
  [[nodiscard]] RemoteQueueStats remote_stats() const override {
    return counters_->snapshot(name_, DestinationKind::remote_queue);
  }
  [[nodiscard]] bool has_consumers() const noexcept override {
    return consumers_.load(std::memory_order_acquire) > 0;
  }
  void remove() override;

  /// (ready messages, consumers) as the server counts them (a passive declare).
  [[nodiscard]] std::pair<std::size_t, std::size_t> counts() const;

 private:
  std::shared_ptr<RabbitTransport> transport_;
  std::string name_;
  QueueOptions options_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<const Hooks> hooks_;
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  std::atomic<bool> open_{true};
  std::shared_ptr<std::atomic<int>> live_consumers_ = std::make_shared<std::atomic<int>>(0);
  std::atomic<int>& consumers_ = *live_consumers_;
  std::mutex mutex_;
  std::vector<std::weak_ptr<QueueState>> inboxes_;  // guarded by mutex_
};

class RabbitExchange final : public RemoteExchange {
 public:
  RabbitExchange(std::shared_ptr<RabbitTransport> transport, std::string name, ExchangeType type,
                 ExchangeOptions options);

  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  void close(bool /*drain*/) noexcept override { open_.store(false); }
  [[nodiscard]] bool idle() const noexcept override {
    return counters_->in_flight.load(std::memory_order_acquire) == 0;
  }
  [[nodiscard]] const Transport& transport() const noexcept override;
  [[nodiscard]] ExchangeType type() const noexcept override { return type_; }
  [[nodiscard]] const ExchangeOptions& options() const noexcept override { return options_; }
  void bind(const Destination& destination, std::string_view key,
            const BindOptions& options) override;
  bool unbind(const Destination& destination, std::string_view key) override;
  [[nodiscard]] ExchangeStats stats() const override;
  [[nodiscard]] RemoteQueueStats remote_stats() const override {
    return counters_->snapshot(name_, DestinationKind::remote_exchange);
  }
  void remove() override;

 private:
  /// The bound destination's name and whether it is an exchange; throws for one elsewhere.
  std::pair<std::string, bool> target(const Destination& destination) const;
  /// queue.bind / exchange.bind (`bind`), or their unbind, of `target_name` to this exchange.
  void binding_call(bool bind, const std::string& target_name, bool is_exchange,
                    std::string_view key, const Headers& arguments);

  std::shared_ptr<RabbitTransport> transport_;
  std::string name_;
  ExchangeType type_;
  ExchangeOptions options_;
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  std::atomic<bool> open_{true};
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Headers> bindings_;  // guarded by mutex_
};

class RabbitTransport final : public Transport,
                              public std::enable_shared_from_this<RabbitTransport> {
 public:
  explicit RabbitTransport(const RabbitOptions& options)
      : options_(checked(options)), control_(options_), publisher_(options_, topology_) {}

  [[nodiscard]] std::string_view name() const noexcept override { return "rabbitmq"; }
  [[nodiscard]] Capabilities capabilities() const noexcept override {
    return Capabilities::of({Capability::headers, Capability::timestamps,
                             Capability::message_ids, Capability::ready_fd});
  }
  [[nodiscard]] const RabbitOptions& options() const noexcept { return options_; }
  Control& control() noexcept { return control_; }
  Publisher& publisher() noexcept { return publisher_; }
  /// What a new publisher or consumer connection declares again (see Topology).
  Topology& topology() noexcept { return *topology_; }
  [[nodiscard]] const std::shared_ptr<Topology>& shared_topology() const noexcept {
    return topology_;
  }

 private:
  std::shared_ptr<RemoteQueue> open_queue(std::string_view name, const QueueOptions& options,
                                          std::shared_ptr<Clock> clock,
                                          std::shared_ptr<const Hooks> hooks) override {
    return std::make_shared<RabbitQueue>(shared_from_this(), std::string(name), options,
                                         std::move(clock), std::move(hooks));
  }
  std::shared_ptr<RemoteExchange> open_exchange(std::string_view name, ExchangeType type,
                                                const ExchangeOptions& options,
                                                std::shared_ptr<Clock> /*clock*/,
                                                std::shared_ptr<const Hooks> /*hooks*/) override {
    return std::make_shared<RabbitExchange>(shared_from_this(), std::string(name), type,
                                            options);
  }

  static const RabbitOptions& checked(const RabbitOptions& o) {
    auto refuse_option = [](std::string_view what) {
      throw Error(Errc::invalid_argument, fmt::format("rabbitmq: {}", what));
    };
    if (o.request_timeout.count() <= 0) refuse_option("request_timeout must be positive");
    if (o.reconnect_backoff.count() <= 0) refuse_option("reconnect_backoff must be positive");
    if (o.reconnect_backoff_max < o.reconnect_backoff) {
      refuse_option("reconnect_backoff_max must be at least reconnect_backoff");
    }
    if (o.reconnect_timeout.count() < 0) refuse_option("reconnect_timeout must not be negative");
    if (o.heartbeat.count() < 0 || o.heartbeat.count() > 65535) {
      refuse_option("heartbeat must be between 0 and 65535 seconds");
    }
    return o;
  }

  RabbitOptions options_;
  std::shared_ptr<Topology> topology_ = std::make_shared<Topology>();
  Control control_;
  Publisher publisher_;
};

[[noreturn]] void refuse(std::string_view name, std::string_view option, std::string_view why) {
  throw Error(Errc::invalid_argument,
              fmt::format("queue '{}' on transport rabbitmq: {} is not carried ({})", name,
                          option, why));
}

/// The queue's arguments, and whether it is a quorum queue; refuses what RabbitMQ lacks.
std::pair<Table, bool> queue_arguments(std::string_view name, const QueueOptions& o) {
  const QueueOptions d;
  if (o.delay != d.delay) refuse(name, "delay", "RabbitMQ delays no message without a plugin");
  if (!(o.retry_backoff == d.retry_backoff)) {
    refuse(name, "retry_backoff", "a nacked message is redelivered at once");
  }
  if (!(o.storage == d.storage)) refuse(name, "storage", "the server keeps its own files");
  if (o.exclusive) {
    refuse(name, "exclusive", "an exclusive queue belongs to one connection, and each consumer "
                              "has its own");
  }
  if (o.on_expiry == OnExpiry::drop && !o.dead_letter.empty() && o.ttl.count() != 0) {
    refuse(name, "on_expiry = drop with a dead_letter",
           "an expired message goes to the dead-letter exchange");
  }
  if (o.dead_letter.empty() && !o.dead_letter_routing_key.empty()) {
    refuse(name, "dead_letter_routing_key without dead_letter", "it has no exchange to go to");
  }
  if (o.capacity == 0) throw Error(Errc::invalid_argument, fmt::format("queue '{}': capacity must be positive", name));
  Table args;
  const bool quorum = o.max_deliveries != 0;
  if (quorum) {
    if (o.durability == Durability::memory) {
      refuse(name, "max_deliveries on a memory queue",
             "x-delivery-limit needs a quorum queue, which is durable: set durability");
    }
    if (o.auto_delete) refuse(name, "auto_delete with max_deliveries", "quorum queues are not");
    args.add("x-queue-type", std::string("quorum"));
    // RabbitMQ dead-letters a message once it has been returned more than x-delivery-limit
    // times (limit 2: the third return, after three deliveries); max_deliveries counts
    // deliveries.
    args.add("x-delivery-limit", static_cast<std::int64_t>(o.max_deliveries) - 1);
  } else if (o.max_priority != 0) {
    args.add("x-max-priority", static_cast<std::int64_t>(o.max_priority));
  }
  args.add("x-max-length", static_cast<std::int64_t>(o.capacity));
  if (o.max_length_bytes != 0) {
    args.add("x-max-length-bytes", static_cast<std::int64_t>(o.max_length_bytes));
  }
  args.add("x-overflow",
           std::string(o.overflow == Overflow::drop_oldest ? "drop-head" : "reject-publish"));
  if (!o.dead_letter.empty()) args.add("x-dead-letter-exchange", o.dead_letter);
  if (!o.dead_letter_routing_key.empty()) {
    args.add("x-dead-letter-routing-key", o.dead_letter_routing_key);
  }
  if (o.ttl.count() != 0) {
    args.add("x-message-ttl",
             static_cast<std::int64_t>(
                 std::chrono::duration_cast<std::chrono::milliseconds>(o.ttl).count()));
  }
  if (o.expires.count() != 0) {
    args.add("x-expires",
             static_cast<std::int64_t>(
                 std::chrono::duration_cast<std::chrono::milliseconds>(o.expires).count()));
  }
  if (o.single_active_consumer) args.add("x-single-active-consumer", true);
  return {std::move(args), quorum};
}

/// A send to queue or exchange `name` (`noun`) as `job`: refused when closed or with a dedup
/// id, else handed to the publisher. The receipt's completion comes from the confirm.
Result<SendReceipt> send_through(RabbitTransport& transport, const std::atomic<bool>& open,
                                 const char* noun, const std::string& name,
                                 const SendOptions& options, Job&& job) noexcept {
  if (!open.load(std::memory_order_acquire)) {
    return Result<SendReceipt>(Errc::closed, fmt::format("{} '{}' is closed", noun, name));
  }
  if (!options.dedup_id.empty()) {
    return Result<SendReceipt>(Errc::invalid_argument,
                               fmt::format("{} '{}' on transport rabbitmq: SendOptions::dedup_id "
                                           "is not carried (RabbitMQ does not deduplicate)",
                                           noun, name));
  }
  if (options.delay.count() != 0) {
    return Result<SendReceipt>(Errc::invalid_argument,
                               fmt::format("{} '{}' on transport rabbitmq: SendOptions::delay is "
                                           "not carried (RabbitMQ delays no message without a "
                                           "plugin)",
                                           noun, name));
  }
  if (options.ttl.count() < 0) {
    return Result<SendReceipt>(Errc::invalid_argument, "SendOptions::ttl must not be negative");
  }
  if (options.ttl.count() > 0 && options.ttl != Duration::max()) {  // max: never expires
    job.expiration =
        std::to_string(std::chrono::ceil<std::chrono::milliseconds>(options.ttl).count());
  }
  const MessageId id = job.message.id();
  if (auto queued = transport.publisher().publish(std::move(job)); !queued) {
    return Result<SendReceipt>(queued.failure());
  }
  SendReceipt receipt;
  receipt.id = id;
  return receipt;
}

RabbitQueue::RabbitQueue(std::shared_ptr<RabbitTransport> transport, std::string name,
                         QueueOptions options, std::shared_ptr<Clock> clock,
                         std::shared_ptr<const Hooks> hooks)
    : transport_(std::move(transport)),
      name_(std::move(name)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      hooks_(std::move(hooks)) {
  defers_completion_ = true;
  auto arguments = queue_arguments(name_, options_);
  Table& args = arguments.first;
  const bool durable = arguments.second || options_.durability != Durability::memory;
  auto declare = [name = name_, durable, auto_delete = options_.auto_delete,
                  table = std::make_shared<Table>(std::move(args))](amqp_connection_state_t c,
                                                                    amqp_channel_t ch) {
    amqp_queue_declare(c, ch, bytes_of(name), 0, durable ? 1 : 0, 0, auto_delete ? 1 : 0,
                       table->get());
  };
  std::string what = fmt::format("queue.declare of '{}'", name_);
  transport_->control().run(what, declare);
  transport_->topology().add("queue " + name_, {name_}, std::move(what), std::move(declare));
  transport_->publisher().watch(counters_);
}

const Transport& RabbitQueue::transport() const noexcept { return *transport_; }

void RabbitQueue::close(bool drain) noexcept {
  open_.store(false, std::memory_order_release);
  std::vector<std::weak_ptr<QueueState>> inboxes;
  {
    std::lock_guard lock(mutex_);
    inboxes.swap(inboxes_);
  }
  for (const auto& weak : inboxes) {
    if (auto inbox = weak.lock()) inbox->close(drain);
  }
}

Result<SendReceipt> RabbitQueue::accept(Message&& message, const SendOptions& options) noexcept {
  if (message.payload().size() > options_.max_payload) {
    return Result<SendReceipt>(Errc::payload_too_large,
                               fmt::format("payload of {} bytes over queue '{}''s max_payload",
                                           message.payload().size(), name_));
  }
  if (options_.max_length_bytes != 0 && message.payload().size() > options_.max_length_bytes) {
    // It could never fit: refused as a local queue refuses it (the server would nack it: full).
    return Result<SendReceipt>(Errc::payload_too_large,
                               fmt::format("payload of {} bytes over queue '{}''s "
                                           "max_length_bytes",
                                           message.payload().size(), name_));
  }
  const bool quorum = options_.max_deliveries != 0;
  const bool durable = quorum || options_.durability != Durability::memory;
  try {
    Job job{std::move(message), "", name_, durable, /*mandatory=*/true,
            quorum    ? Persisted::replicated
            : durable ? Persisted::synced
                      : Persisted::memory,
            options.on_complete, counters_, options_.capacity};
    return send_through(*transport_, open_, "queue", name_, options, std::move(job));
  } catch (...) {
    return Result<SendReceipt>(Errc::out_of_memory, "rabbitmq: a send to queue '" + name_ + "'");
  }
}

std::pair<std::size_t, std::size_t> RabbitQueue::counts() const {
  auto* ok = transport_->control().run(
      fmt::format("queue.declare (passive) of '{}'", name_),
      [&](amqp_connection_state_t c, amqp_channel_t ch) {
        return amqp_queue_declare(c, ch, bytes_of(name_), 1, 0, 0, 0, amqp_empty_table);
      });
  if (ok == nullptr) return {0, 0};
  return {ok->message_count, ok->consumer_count};
}

std::size_t RabbitQueue::depth() const noexcept {
  try {
    return counts().first;
  } catch (const std::exception& e) {
    counters_->error(e.what());
    return 0;
  }
}

QueueStats RabbitQueue::stats() const {
  QueueStats s;
  s.name = name_;
  try {
    const auto [ready, consumers] = counts();
    s.depth = ready;
    s.consumers = consumers;
  } catch (const std::exception& e) {
    counters_->error(e.what());
  }
  s.enqueued = counters_->confirmed.load();
  s.delivered = counters_->delivered.load();
  s.acked = counters_->acked.load();
  s.nacked = counters_->requeued.load() + counters_->rejected.load();
  s.rejected_full = counters_->failed.load();
  return s;
}

std::size_t RabbitQueue::purge() noexcept {
  try {
    auto* ok = transport_->control().run(fmt::format("queue.purge of '{}'", name_),
                                         [&](amqp_connection_state_t c, amqp_channel_t ch) {
                                           return amqp_queue_purge(c, ch, bytes_of(name_));
                                         });
    return ok != nullptr ? ok->message_count : 0;
  } catch (const std::exception& e) {
    counters_->error(e.what());
    return 0;
  }
}

void RabbitQueue::remove() {
  transport_->control().run(fmt::format("queue.delete of '{}'", name_),
                            [&](amqp_connection_state_t c, amqp_channel_t ch) {
                              amqp_queue_delete(c, ch, bytes_of(name_), 0, 0);
                            });
  transport_->topology().forget(name_);
  close(false);
}

std::shared_ptr<QueueState> RabbitQueue::consume(std::uint32_t prefetch, std::string_view tag) {
  if (!open_.load()) throw Error(Errc::closed, "queue '" + name_ + "' is closed");
  if (prefetch == 0 || prefetch > 65'535) {
    throw Error(Errc::invalid_argument,
                fmt::format("consumer of queue '{}' on transport rabbitmq: prefetch {} is not "
                            "within 1..65535 (basic.qos)",
                            name_, prefetch));
  }
  // The inbox: a plain queue of this process, only ever filled by put_inbox (no capacity to
  // reach: the server sends at most `prefetch` unacked), redelivering nothing itself — its
  // visibility timeout hands a delivery back to the server (InboxSink::requeue).
  QueueOptions inbox_options;
  inbox_options.capacity = std::max<std::size_t>(prefetch, 2);
  inbox_options.prefetch = prefetch;
  inbox_options.visibility_timeout = options_.visibility_timeout;
  inbox_options.max_priority = 0;
  auto holder = std::make_shared<InboxHolder>();
  holder->inbox =
      std::make_shared<QueueState>(name_, inbox_options, clock_, nullptr, nullptr, hooks_);
  holder->consumer = std::make_unique<RabbitConsumer>(transport_->options(),
                                                      transport_->shared_topology(),
                                                      holder->inbox, name_, prefetch, tag,
                                                      counters_, hooks_);
  holder->live = live_consumers_;
  live_consumers_->fetch_add(1, std::memory_order_acq_rel);
  std::shared_ptr<QueueState> inbox(holder, holder->inbox.get());
  std::lock_guard lock(mutex_);
  std::erase_if(inboxes_, [](const std::weak_ptr<QueueState>& w) { return w.expired(); });
  inboxes_.push_back(inbox);
  if (!open_.load(std::memory_order_acquire)) inbox->close(false);  // closed meanwhile
  return inbox;
}

RabbitExchange::RabbitExchange(std::shared_ptr<RabbitTransport> transport, std::string name,
                               ExchangeType type, ExchangeOptions options)
    : transport_(std::move(transport)),
      name_(std::move(name)),
      type_(type),
      options_(std::move(options)) {
  defers_completion_ = true;
  Table args;
  if (options_.unroutable == Unroutable::alternate) {
    if (options_.alternate.empty()) {
      throw Error(Errc::invalid_argument,
                  fmt::format("exchange '{}': unroutable = alternate needs an alternate", name_));
    }
    args.add("alternate-exchange", options_.alternate);
  }
  const char* kind = type == ExchangeType::direct   ? "direct"
                     : type == ExchangeType::topic  ? "topic"
                     : type == ExchangeType::fanout ? "fanout"
                                                    : "headers";
  auto declare = [name = name_, kind, table = std::make_shared<Table>(std::move(args))](
                     amqp_connection_state_t c, amqp_channel_t ch) {
    amqp_exchange_declare(c, ch, bytes_of(name), amqp_cstring_bytes(kind), 0, 1, 0, 0,
                          table->get());
  };
  std::string what = fmt::format("exchange.declare of '{}'", name_);
  transport_->control().run(what, declare);
  transport_->topology().add("exchange " + name_, {name_}, std::move(what), std::move(declare));
  transport_->publisher().watch(counters_);
}

const Transport& RabbitExchange::transport() const noexcept { return *transport_; }

Result<SendReceipt> RabbitExchange::accept(Message&& message,
                                           const SendOptions& options) noexcept {
  try {
    std::string key(message.key());
    // Unroutable::drop: a message no queue takes is confirmed all the same (RabbitMQ drops
    // it); `error` reports it (the return); `alternate`: the server sends it there.
    Job job{std::move(message), name_, std::move(key), /*persistent=*/true,
            /*mandatory=*/options_.unroutable == Unroutable::error, Persisted::memory,
            options.on_complete, counters_};
    job.routed_by_headers = type_ == ExchangeType::headers;
    return send_through(*transport_, open_, "exchange", name_, options, std::move(job));
  } catch (...) {
    return Result<SendReceipt>(Errc::out_of_memory, "rabbitmq: a send to exchange '" + name_ + "'");
  }
}

std::pair<std::string, bool> RabbitExchange::target(const Destination& destination) const {
  if (destination.kind() == DestinationKind::remote_queue) {
    const auto& q = static_cast<const RemoteQueue&>(destination);
    if (&q.transport() == transport_.get()) return {q.name(), false};
  } else if (destination.kind() == DestinationKind::remote_exchange) {
    const auto& e = static_cast<const RemoteExchange&>(destination);
    if (&e.transport() == transport_.get()) return {e.name(), true};
  }
  throw Error(Errc::invalid_argument,
              fmt::format("exchange '{}' on transport rabbitmq can bind only queues and "
                          "exchanges on the same connection, not {} '{}'",
                          name_, to_string(destination.kind()), destination.name()));
}

void RabbitExchange::bind(const Destination& destination, std::string_view key,
                          const BindOptions& options) {
  if (type_ != ExchangeType::headers && !options.arguments.empty()) {
    throw Error(Errc::invalid_argument,
                fmt::format("exchange '{}' on transport rabbitmq: a binding's arguments (a "
                            "header filter) are not carried on a direct, topic or fanout "
                            "exchange (the server ignores them)",
                            name_));
  }
  const auto bound = target(destination);
  binding_call(true, bound.first, bound.second, key, options.arguments);
  std::lock_guard lock(mutex_);
  bindings_[{bound.first, std::string(key)}] = options.arguments;
}

bool RabbitExchange::unbind(const Destination& destination, std::string_view key) {
  const auto bound = target(destination);
  Headers arguments;
  {
    std::lock_guard lock(mutex_);
    auto it = bindings_.find({bound.first, std::string(key)});
    if (it == bindings_.end()) return false;
    arguments = it->second;
    bindings_.erase(it);
  }
  binding_call(false, bound.first, bound.second, key, arguments);
  return true;
}

void RabbitExchange::binding_call(bool bind, const std::string& target_name, bool is_exchange,
                                  std::string_view key, const Headers& arguments) {
  auto table = std::make_shared<Table>();
  for (const auto& [name, value] : arguments) table->add(name, value);
  auto call = [bind, is_exchange, table, to = target_name, from = name_,
               routing = std::string(key)](amqp_connection_state_t c, amqp_channel_t ch) {
    if (is_exchange && bind) {
      amqp_exchange_bind(c, ch, bytes_of(to), bytes_of(from), bytes_of(routing), table->get());
    } else if (is_exchange) {
      amqp_exchange_unbind(c, ch, bytes_of(to), bytes_of(from), bytes_of(routing), table->get());
    } else if (bind) {
      amqp_queue_bind(c, ch, bytes_of(to), bytes_of(from), bytes_of(routing), table->get());
    } else {
      amqp_queue_unbind(c, ch, bytes_of(to), bytes_of(from), bytes_of(routing), table->get());
    }
  };
  std::string what = fmt::format("{} of '{}' {} '{}' with '{}'", bind ? "bind" : "unbind",
                                 target_name, bind ? "to" : "from", name_, key);
  transport_->control().run(what, call);
  const std::string id = fmt::format("bind '{}' '{}' '{}'", name_, target_name, key);
  if (bind) {
    transport_->topology().add(id, {name_, target_name}, std::move(what), std::move(call));
  } else {
    transport_->topology().remove(id);
  }
}

ExchangeStats RabbitExchange::stats() const {
  ExchangeStats s;
  s.name = name_;
  s.routed = counters_->confirmed.load();
  s.deliveries = counters_->confirmed.load();
  s.unroutable = counters_->returned.load();
  s.rejected = counters_->failed.load();
  std::lock_guard lock(const_cast<std::mutex&>(mutex_));
  s.bindings = bindings_.size();
  return s;
}

void RabbitExchange::remove() {
  transport_->control().run(fmt::format("exchange.delete of '{}'", name_),
                            [&](amqp_connection_state_t c, amqp_channel_t ch) {
                              amqp_exchange_delete(c, ch, bytes_of(name_), 0);
                            });
  transport_->topology().forget(name_);
  close(false);
}

}  // namespace
}  // namespace switchyard::detail::rabbitmq

namespace switchyard::rabbitmq {

std::shared_ptr<Transport> connect(const RabbitOptions& options) {
  return std::make_shared<detail::rabbitmq::RabbitTransport>(options);
}

}  // namespace switchyard::rabbitmq
