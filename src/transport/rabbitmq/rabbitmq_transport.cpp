// switchyard::rabbitmq (switchyard/rabbitmq.hpp): the transport, its queues and exchanges, the
// publisher thread and the consumers. The threading story is the public header's; here:
//
//   RabbitTransport  the Transport: the control connection (mutex) and the Publisher.
//   Publisher        a connection and its thread. `publish` queues a Job (the message, kept by
//                    reference count, not copied) and wakes the thread (an eventfd); the thread
//                    publishes each on a channel in confirm mode, keeps the job under its
//                    publish sequence number until the server's basic.ack / basic.nack, and
//                    completes it. A basic.return (a mandatory message no queue took) comes
//                    before the ack of the message it returns, but not necessarily just before
//                    (acks of earlier messages may follow it): each message carries its sequence
//                    number in the `x-switchyard-seq` header, which the return brings back, so
//                    that ack completes as `unroutable`. Consumers strip the header.
//   RabbitQueue      a RemoteQueue: declares with the options as queue arguments, sends through
//                    the Publisher (the default exchange, the queue's name as routing key).
//   RabbitExchange   a RemoteExchange: the same through the exchange, the send's key routing.
//   RabbitConsumer   an InboxSink: its own connection, basic.qos + basic.consume, and a thread
//                    that puts deliveries in the inbox and sends the settlements (queued by any
//                    thread, as for the Publisher).
#include <amqp.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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

/// A send's key, for a queue (an exchange's routing key is the key), and its publish sequence
/// number (to match a basic.return to its ack): headers the consumers take out again.
constexpr std::string_view kKeyHeader = "x-switchyard-key";
constexpr std::string_view kSequenceHeader = "x-switchyard-seq";

/// A counter's atomics, shared by a destination, its jobs and its consumers.
struct Counters {
  std::atomic<std::uint64_t> published{0}, confirmed{0}, returned{0}, failed{0}, delivered{0},
      acked{0}, requeued{0}, rejected{0}, errors{0};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<ConnectionState> connection{ConnectionState::up};
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
    s.published = published.load();
    s.confirmed = confirmed.load();
    s.returned = returned.load();
    s.failed = failed.load();
    s.delivered = delivered.load();
    s.acked = acked.load();
    s.requeued = requeued.load();
    s.rejected = rejected.load();
    s.errors = errors.load();
    s.connection = connection.load();
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
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

/// Waits until `connection` has input (or has some buffered) or `wakeup` fires, at most
/// `timeout_ms` (-1: no bound). False when the socket failed.
bool wait_readable(const AmqpConnection& connection, Wakeup& wakeup, bool& input,
                   int timeout_ms = -1) {
  input = connection.buffered();
  if (input) return true;
  pollfd fds[2] = {{connection.fd(), POLLIN, 0}, {wakeup.fd(), POLLIN, 0}};
  const int n = ::poll(fds, 2, timeout_ms);
  if (n < 0) return errno == EINTR;
  if ((fds[1].revents & POLLIN) != 0) wakeup.drain();
  if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (fds[0].revents & POLLIN) == 0) {
    return false;
  }
  input = (fds[0].revents & POLLIN) != 0;
  return true;
}

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
  std::string encoded{};  // an object payload, encoded by its Codec on the sender's thread
  /// The send's ttl in milliseconds (AMQP `expiration`); "": none.
  std::string expiration{};
};

class Publisher {
 public:
  explicit Publisher(const RabbitOptions& options)
      : connection_(options), close_timeout_(options.request_timeout) {
    amqp_confirm_select(connection_.get(), connection_.channel());
    connection_.check("confirm.select");
    thread_ = std::thread([this] { run(); });
  }
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  /// Waits for the confirms of everything queued (the drain), at most `request_timeout` (the
  /// rest then fails with `timed_out`), then closes.
  ~Publisher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wakeup_.notify();
    thread_.join();
  }

  /// Queues `job`; refused (nothing queued) once the connection is lost or stopping, or when
  /// an object payload does not encode.
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
    try {
      std::lock_guard lock(mutex_);
      if (lost_) return Status(Errc::io_error, "rabbitmq: the publisher's connection is lost: " + lost_why_);
      if (stopping_) return Status(Errc::closed, "rabbitmq: the transport is closing");
      job.counters->published.fetch_add(1, std::memory_order_relaxed);
      job.counters->in_flight.fetch_add(1, std::memory_order_relaxed);
      jobs_.push_back(std::move(job));
    } catch (const std::bad_alloc&) {
      return Status(Errc::out_of_memory, "rabbitmq: queueing a publish");
    }
    wakeup_.notify();
    return {};
  }

 private:
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
    const std::string id = m.message_id().empty() ? std::to_string(m.id())
                                                  : std::string(m.message_id());
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes_of(id);
    if (!job.expiration.empty()) {
      props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
      props.expiration = bytes_of(job.expiration);
    }
    Table headers;
    for (const auto& [name, value] : m.headers()) headers.add(name, value);
    headers.add(std::string(kSequenceHeader), static_cast<std::int64_t>(sequence));
    if (!m.key().empty() && !job.exchange.empty()) {
      // An exchange routes by the key; a queue's key is kept as a header.
    } else if (!m.key().empty()) {
      headers.add(std::string(kKeyHeader), std::string(m.key()));
    }
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = headers.get();
    const std::span<const std::byte> payload =
        m.has_object() ? std::as_bytes(std::span(job.encoded.data(), job.encoded.size()))
                       : m.payload().bytes();
    const amqp_bytes_t body{payload.size(),
                            const_cast<std::byte*>(payload.data())};
    const int status =
        amqp_basic_publish(connection_.get(), connection_.channel(), bytes_of(job.exchange),
                           bytes_of(job.routing_key), job.mandatory ? 1 : 0, /*immediate=*/0, &props,
                           body);
    AmqpConnection::check_status(status, "basic.publish");
  }

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
            amqp_read_message(connection_.get(), frame.channel, &returned, 0);
        if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
          throw AmqpConnection::error_of(Errc::io_error, "reading a returned message",
                                         "its content did not follow");
        }
        struct Destroy {
          amqp_message_t& m;
          ~Destroy() { amqp_destroy_message(&m); }
        } destroy{returned};
        if ((returned.properties._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
          const amqp_table_t& table = returned.properties.headers;
          for (int i = 0; i < table.num_entries; ++i) {
            if (view_of(table.entries[i].key) == kSequenceHeader &&
                table.entries[i].value.kind == AMQP_FIELD_KIND_I64) {
              returned_.insert(static_cast<std::uint64_t>(table.entries[i].value.value.i64));
            }
          }
        }
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: {
        const auto* close =
            static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
        throw AmqpConnection::error_of(
            Errc::io_error, "publishing",
            fmt::format("the server closed the channel: {} {}", close->reply_code,
                        view_of(close->reply_text)));
      }
      case AMQP_CONNECTION_CLOSE_METHOD:
        throw AmqpConnection::error_of(Errc::io_error, "publishing",
                                       "the server closed the connection");
      default:
        break;
    }
  }

  /// Completes the job `tag` (and, `multiple`, every earlier one still pending).
  void settle(std::uint64_t tag, bool multiple, Errc code) {
    auto end = pending_.upper_bound(tag);
    auto begin = multiple ? pending_.begin() : pending_.find(tag);
    if (begin == pending_.end()) return;
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
    std::deque<Job> batch;
    try {
      for (;;) {
        bool stopping = false;
        {
          std::lock_guard lock(mutex_);
          batch.swap(jobs_);
          stopping = stopping_;
        }
        for (Job& job : batch) {
          send(job, sequence_ + 1);
          pending_.emplace(++sequence_, std::move(job));
        }
        batch.clear();
        int timeout_ms = -1;
        if (stopping) {
          if (pending_.empty()) {
            std::lock_guard lock(mutex_);
            if (jobs_.empty()) return;
            continue;
          }
          const auto now = std::chrono::steady_clock::now();
          if (!close_deadline_) close_deadline_ = now + close_timeout_;
          if (now >= *close_deadline_) {
            throw Error(Errc::timed_out,
                        "rabbitmq: closing: the server did not confirm within request_timeout");
          }
          timeout_ms = static_cast<int>(
              std::chrono::duration_cast<std::chrono::milliseconds>(*close_deadline_ - now)
                  .count() + 1);
        }
        bool input = false;
        if (!wait_readable(connection_, wakeup_, input, timeout_ms)) {
          throw Error(Errc::io_error, "rabbitmq: the publisher's socket failed");
        }
        while (input) {
          amqp_frame_t frame;
          timeval zero{0, 0};
          const int status = amqp_simple_wait_frame_noblock(connection_.get(), &frame, &zero);
          if (status == AMQP_STATUS_TIMEOUT) break;
          AmqpConnection::check_status(status, "reading the server's confirms");
          handle(frame);
          amqp_maybe_release_buffers(connection_.get());
          input = connection_.buffered();
        }
      }
    } catch (const std::exception& e) {
      lose(e.what(), batch);
    }
  }

  /// The connection is lost: every job not confirmed fails (it may or may not have reached
  /// the server), and so does every later publish.
  void lose(const std::string& why, std::deque<Job>& batch) noexcept {
    std::deque<Job> rest;
    {
      std::lock_guard lock(mutex_);
      lost_ = true;
      try {
        lost_why_ = why;
      } catch (...) {
      }
      rest.swap(jobs_);
    }
    const Result<SendReceipt> failure(
        Errc::io_error, "rabbitmq: not confirmed by the server (it may or may not have the "
                        "message): " + why);
    for (auto& [tag, job] : pending_) {
      job.counters->connection.store(ConnectionState::down);
      job.counters->error(why);
      complete(job, failure);
    }
    pending_.clear();
    for (Job& job : batch) complete(job, failure);
    for (Job& job : rest) complete(job, failure);
  }

  AmqpConnection connection_;
  Wakeup wakeup_;
  std::mutex mutex_;
  std::deque<Job> jobs_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  bool lost_ = false;      // guarded by mutex_
  std::string lost_why_;   // guarded by mutex_
  // The thread's own:
  std::map<std::uint64_t, Job> pending_;  // by publish sequence number
  std::uint64_t sequence_ = 0;
  std::set<std::uint64_t> returned_;  // sequence numbers returned, their ack still to come
  std::chrono::milliseconds close_timeout_;
  std::optional<std::chrono::steady_clock::time_point> close_deadline_;
  std::thread thread_;
};

// --- the control connection ------------------------------------------------------------------

class Control {
 public:
  explicit Control(const RabbitOptions& options) : connection_(options) {}
  /// Runs `call(connection, channel)` — one synchronous method — and checks its reply.
  template <class Call>
  auto run(std::string_view what, Call&& call) {
    std::lock_guard lock(mutex_);
    if constexpr (std::is_void_v<decltype(call(connection_.get(), connection_.channel()))>) {
      call(connection_.get(), connection_.channel());
      connection_.check(what);
    } else {
      auto out = call(connection_.get(), connection_.channel());
      connection_.check(what);
      return out;
    }
  }

 private:
  std::mutex mutex_;
  AmqpConnection connection_;
};

// --- consumers -------------------------------------------------------------------------------

class RabbitConsumer final : public InboxSink {
 public:
  RabbitConsumer(const RabbitOptions& options, std::shared_ptr<QueueState> inbox,
                 const std::string& queue, std::uint32_t prefetch, std::string_view tag,
                 std::shared_ptr<Counters> counters, std::shared_ptr<const Hooks> hooks)
      : connection_(options),
        inbox_(std::move(inbox)),
        counters_(std::move(counters)),
        hooks_(std::move(hooks)) {
    amqp_connection_state_t c = connection_.get();
    amqp_basic_qos(c, connection_.channel(), 0, static_cast<std::uint16_t>(prefetch), 0);
    connection_.check(fmt::format("basic.qos {} on '{}'", prefetch, queue));
    amqp_basic_consume(c, connection_.channel(), bytes_of(queue), bytes_of(tag), 0, 0, 0,
                       amqp_empty_table);
    connection_.check(fmt::format("basic.consume of '{}'", queue));
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
    counters_->requeued.fetch_add(1, std::memory_order_relaxed);
    (void)command({Op::requeue, entry.seq});
  }
  void reject(Entry&& entry, std::string_view /*why*/) noexcept override {
    counters_->rejected.fetch_add(1, std::memory_order_relaxed);
    (void)command({Op::reject, entry.seq});
  }
  void consumer_closed() noexcept override { stop(); }

 private:
  enum class Op : std::uint8_t { ack, requeue, reject };
  struct Command {
    Op op;
    std::uint64_t tag;
  };

  Status command(Command c) noexcept {
    try {
      std::lock_guard lock(mutex_);
      if (done_) {
        return Status(Errc::stale_delivery,
                      "rabbitmq: the consumer's connection is closed; the server has put the "
                      "delivery back");
      }
      commands_.push_back(c);
    } catch (const std::bad_alloc&) {
      return Status(Errc::out_of_memory, "rabbitmq: queueing a settlement");
    }
    wakeup_.notify();
    return {};
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wakeup_.notify();
  }

  void deliver(amqp_envelope_t& envelope) {
    const amqp_basic_properties_t& p = envelope.message.properties;
    std::uint32_t earlier = envelope.redelivered != 0 ? 1 : 0;
    Headers headers;
    std::string key(view_of(envelope.routing_key));
    if ((p._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
      headers = headers_of(p.headers);
      std::vector<Headers::value_type> kept;
      // The key a send gave (a send to a queue keeps it in kKeyHeader: its routing key is the
      // queue's name), unless a dead-letter routing key replaced it: a dead letter of a send
      // to a queue (x-first-death-exchange "") keeps the queue's name as its routing key only
      // when the queue has no x-dead-letter-routing-key.
      const auto death_queue = headers.find("x-first-death-queue");
      const bool sent_to_queue = death_queue ? headers.get("x-first-death-exchange").empty()
                                             : view_of(envelope.exchange).empty();
      if (sent_to_queue && (!death_queue || key == *death_queue)) key.clear();
      for (const auto& [name, value] : headers) {
        if (name == "x-delivery-count") {
          // Quorum queues count earlier deliveries; a value that is no number counts as none.
          std::uint32_t count = 0;
          if (std::from_chars(value.data(), value.data() + value.size(), count).ec == std::errc{}) {
            earlier = count;
          }
        } else if (name == kKeyHeader) {
          if (key.empty()) key = value;
        } else if (name == kSequenceHeader) {
          continue;
        } else {
          kept.emplace_back(name, value);
        }
      }
      headers = Headers(kept);
    } else if (view_of(envelope.exchange).empty()) {
      key.clear();  // the default exchange's routing key is the queue's name, not a key
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
    Entry entry{std::move(message), 0, earlier, envelope.delivery_tag};
    if (!inbox_->put_inbox(std::move(entry))) {
      amqp_basic_nack(connection_.get(), connection_.channel(), envelope.delivery_tag, 0, 1);
    }
  }

  void run() noexcept {
    std::deque<Command> batch;
    std::string why;
    try {
      for (;;) {
        bool stopping = false;
        {
          std::lock_guard lock(mutex_);
          batch.swap(commands_);
          stopping = stopping_;
        }
        amqp_connection_state_t c = connection_.get();
        const amqp_channel_t ch = connection_.channel();
        for (const Command& cmd : batch) {
          int status = AMQP_STATUS_OK;
          switch (cmd.op) {
            case Op::ack:
              status = amqp_basic_ack(c, ch, cmd.tag, 0);
              break;
            case Op::requeue:
              status = amqp_basic_nack(c, ch, cmd.tag, 0, 1);
              break;
            case Op::reject:
              status = amqp_basic_reject(c, ch, cmd.tag, 0);
              break;
          }
          AmqpConnection::check_status(status, "settling a delivery");
        }
        batch.clear();
        if (stopping) break;
        bool input = false;
        if (!wait_readable(connection_, wakeup_, input)) {
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
            if (frame.frame_type == AMQP_FRAME_METHOD &&
                (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                 frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
                 frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD)) {
              throw Error(Errc::io_error, "rabbitmq: the server ended the consumer (the queue "
                                          "was deleted, or the channel closed)");
            }
          } else {
            throw Error(Errc::io_error,
                        fmt::format("rabbitmq: consuming: {}",
                                    reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                        ? amqp_error_string2(reply.library_error)
                                        : "a server error"));
          }
          input = connection_.buffered();
        }
      }
    } catch (const std::exception& e) {
      why = e.what();
    }
    {
      std::lock_guard lock(mutex_);
      done_ = true;  // settlements from now on are stale_delivery
    }
    connection_.close();  // the server puts back what this consumer had not acked
    if (!why.empty()) {
      counters_->error(why);
      if (hooks_->logging()) hooks_->log().log(LogLevel::error, "rabbitmq", "{}", why);
      inbox_->close(false);  // its consumer is told `closed`; the server requeues the rest
    }
  }

  AmqpConnection connection_;
  std::shared_ptr<QueueState> inbox_;
  std::shared_ptr<Counters> counters_;
  std::shared_ptr<const Hooks> hooks_;
  Wakeup wakeup_;
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
      : options_(options), control_(options), publisher_(options) {}

  [[nodiscard]] std::string_view name() const noexcept override { return "rabbitmq"; }
  [[nodiscard]] Capabilities capabilities() const noexcept override {
    return Capabilities::of({Capability::headers, Capability::timestamps,
                             Capability::message_ids, Capability::ready_fd});
  }
  [[nodiscard]] const RabbitOptions& options() const noexcept { return options_; }
  Control& control() noexcept { return control_; }
  Publisher& publisher() noexcept { return publisher_; }

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

  RabbitOptions options_;
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
  Table& args = arguments.first;  // (not a structured binding: lambdas capture it)
  const bool durable = arguments.second || options_.durability != Durability::memory;
  transport_->control().run(fmt::format("queue.declare of '{}'", name_),
                            [&](amqp_connection_state_t c, amqp_channel_t ch) {
                              amqp_queue_declare(c, ch, bytes_of(name_), 0, durable ? 1 : 0, 0,
                                                 options_.auto_delete ? 1 : 0, args.get());
                            });
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
            options.on_complete, counters_};
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
  holder->consumer = std::make_unique<RabbitConsumer>(
      transport_->options(), holder->inbox, name_, prefetch, tag, counters_, hooks_);
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
  transport_->control().run(fmt::format("exchange.declare of '{}'", name_),
                            [&](amqp_connection_state_t c, amqp_channel_t ch) {
                              amqp_exchange_declare(c, ch, bytes_of(name_), amqp_cstring_bytes(kind),
                                                    0, 1, 0, 0, args.get());
                            });
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
  Table args;
  for (const auto& [name, value] : arguments) args.add(name, value);
  transport_->control().run(
      fmt::format("{} of '{}' {} '{}' with '{}'", bind ? "bind" : "unbind", target_name,
                  bind ? "to" : "from", name_, key),
      [&](amqp_connection_state_t c, amqp_channel_t ch) {
        const amqp_bytes_t to = bytes_of(target_name), from = bytes_of(name_),
                           routing = bytes_of(key);
        if (is_exchange && bind) {
          amqp_exchange_bind(c, ch, to, from, routing, args.get());
        } else if (is_exchange) {
          amqp_exchange_unbind(c, ch, to, from, routing, args.get());
        } else if (bind) {
          amqp_queue_bind(c, ch, to, from, routing, args.get());
        } else {
          amqp_queue_unbind(c, ch, to, from, routing, args.get());
        }
      });
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
  close(false);
}

}  // namespace
}  // namespace switchyard::detail::rabbitmq

namespace switchyard::rabbitmq {

std::shared_ptr<Transport> connect(const RabbitOptions& options) {
  return std::make_shared<detail::rabbitmq::RabbitTransport>(options);
}

}  // namespace switchyard::rabbitmq
