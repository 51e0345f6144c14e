// Request / reply, the requester's side: the reply queue and thread (requester.hpp) and
// Producer's request members, which need them (the rest of Producer: route/producer.cpp).
#include "broker/requester.hpp"

#include <charconv>
#include <vector>

#include "broker/queue_lifetime.hpp"
#include "switchyard/detail/deadline.hpp"
#include "switchyard/producer.hpp"
#include "sync/broker_thread.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace detail {

namespace {

/// Reply queue names, unique in the process (and so in every broker).
std::atomic<std::uint64_t> reply_queue_counter{0};

/// Calls `handler` with `outcome`; a handler must not throw, one that does is ignored.
void complete(ReplyHandler& handler, Result<Message> outcome) noexcept {
  if (!handler) return;
  try {
    handler(std::move(outcome));
  } catch (...) {
    // ReplyHandler's contract: must not throw.
  }
}

}  // namespace

Result<std::shared_ptr<Requester>> Requester::open(
    const std::shared_ptr<Registry>& registry) noexcept try {
  QueueOptions options;
  options.overflow = Overflow::reject;  // a responder never blocks on a requester's queue
  options.prefetch = 1024;
  options.visibility_timeout = Duration{0};  // taken and acked at once by the reply thread
  options.max_priority = 0;                  // FIFO on the lock-free ring
  options.exclusive = true;                  // RabbitMQ: reply queues are exclusive ...
  options.auto_delete = true;                // ... and auto-deleted
  auto core = std::make_shared<RequesterCore>();
  core->registry = registry;
  std::shared_ptr<const void> owner;
  for (;;) {
    const std::string name =
        "amq.gen.reply-" +
        std::to_string(reply_queue_counter.fetch_add(1, std::memory_order_relaxed) + 1);
    bool inserted = false;
    auto destination = registry->find_or_insert(
        name,
        [&] {
          auto queue =
              std::make_shared<QueueState>(name, options, registry->clock(), nullptr, nullptr);
          owner = arm_lifetime(registry, queue, nullptr, nullptr);
          return queue;
        },
        inserted);
    if (inserted) {
      core->queue = std::static_pointer_cast<QueueState>(destination);
      break;
    }
    // A user declared this name: take the next one.
  }
  core->consumer = std::make_shared<ConsumerState>(core->queue, options.prefetch,
                                                   WaitStrategy::park);
  core->consumer->keep_owner(std::move(owner));
  std::shared_ptr<Requester> requester(new Requester(core));
  try {
    requester->thread_ = start_thread(core->queue->clock(), [core] { core->run(); });
  } catch (const std::system_error& e) {
    core->consumer->close();
    return Result<std::shared_ptr<Requester>>(Errc::io_error,
                                              std::string("no reply thread: ") + e.what());
  }
  requester->thread_id_ = requester->thread_.get_id();
  return requester;
} catch (const Error& e) {
  return Result<std::shared_ptr<Requester>>(e.code(), e.what());
} catch (const std::bad_alloc&) {
  return Result<std::shared_ptr<Requester>>(Errc::out_of_memory);
}

Requester::~Requester() {
  {
    MutexLock lock(core_->mutex);
    core_->stopped = true;
  }
  core_->consumer->interrupt();
  if (!thread_.joinable()) return;
  if (on_reply_thread()) {
    thread_.detach();  // a handler dropped the last producer: the thread ends after it
  } else {
    thread_.join();
  }
}

std::uint64_t Requester::add(std::int64_t deadline_ns, ReplyHandler& handler) noexcept try {
  bool sooner = false;
  std::uint64_t id = 0;
  {
    MutexLock lock(core_->mutex);
    if (core_->stopped) return 0;
    id = core_->next_id++;
    sooner = core_->deadlines.empty() || deadline_ns < core_->deadlines.begin()->first;
    core_->deadlines.emplace(deadline_ns, id);
    try {
      core_->pending.emplace(id, RequesterCore::Pending{deadline_ns, std::move(handler)});
    } catch (...) {
      core_->deadlines.erase({deadline_ns, id});
      throw;
    }
  }
  // The reply thread waits for the earliest deadline: one sooner than it must wake it.
  if (sooner) core_->consumer->interrupt();
  return id;
} catch (const std::bad_alloc&) {
  return 0;
}

ReplyHandler Requester::remove(std::uint64_t id) noexcept {
  MutexLock lock(core_->mutex);
  auto it = core_->pending.find(id);
  if (it == core_->pending.end()) return nullptr;
  ReplyHandler handler = std::move(it->second.handler);
  core_->deadlines.erase({it->second.deadline_ns, id});
  core_->pending.erase(it);
  return handler;
}

RequestStats Requester::stats() const noexcept {
  RequestStats s;
  s.sent = core_->sent.load(std::memory_order_relaxed);
  s.answered = core_->answered.load(std::memory_order_relaxed);
  s.timed_out = core_->timed_out.load(std::memory_order_relaxed);
  s.late_replies = core_->late.load(std::memory_order_relaxed);
  MutexLock lock(core_->mutex);
  s.pending = core_->pending.size();
  return s;
}

void RequesterCore::run() noexcept {
  const Clock& clock = *registry->clock();
  for (;;) {
    // Resume before reading the deadlines (requester.hpp: no missed interrupt).
    consumer->resume();
    std::int64_t next_ns = INT64_MAX;
    {
      MutexLock lock(mutex);
      if (stopped) break;
      if (!deadlines.empty()) next_ns = deadlines.begin()->first;
    }
    const std::int64_t now_ns = clock.now().time_since_epoch().count();
    const Duration wait = next_ns == INT64_MAX
                              ? Duration::max()
                              : Duration(std::max<std::int64_t>(0, next_ns - now_ns));
    auto reply = consumer->receive(wait);
    if (reply) {
      dispatch(*reply);
    } else if (reply.code() == Errc::closed) {
      break;  // the broker shut down (or the queue was deleted)
    }
    expire(clock.now().time_since_epoch().count());
  }
  // Close first: the auto-delete removes the reply queue, so no reply is taken in any more.
  consumer->close();
  auto left = take_all();
  for (auto& [id, pending] : left) {
    complete(pending.handler, Result<Message>(Errc::closed,
                                              "the requester or the broker closed "
                                              "before the reply came"));
  }
}

void RequesterCore::dispatch(Delivery& reply) noexcept {
  // Acked at once: a reply is taken once, whatever becomes of it.
  (void)reply.ack();  // cannot fail but stale, and this thread alone settles its replies
  const std::string_view text = reply.headers().get(headers::correlation_id);
  std::uint64_t id = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), id);
  ReplyHandler handler;
  if (parsed.ec == std::errc() && parsed.ptr == text.data() + text.size()) {
    MutexLock lock(mutex);
    auto it = pending.find(id);
    if (it != pending.end()) {
      handler = std::move(it->second.handler);
      deadlines.erase({it->second.deadline_ns, id});
      pending.erase(it);
    }
  }
  if (!handler) {
    late.fetch_add(1, std::memory_order_relaxed);  // its request ended: dropped, never re-used
    return;
  }
  answered.fetch_add(1, std::memory_order_relaxed);
  if (auto error = reply.headers().find(headers::error)) {
    Result<Message> failed(Errc::remote_error, "");
    try {
      failed = Result<Message>(Errc::remote_error, std::string(*error));
    } catch (const std::bad_alloc&) {
      // The code alone, then.
    }
    complete(handler, std::move(failed));
    return;
  }
  complete(handler, reply.message());
}

void RequesterCore::expire(std::int64_t now_ns) noexcept {
  // One request per hold of the lock, its handler called after: nothing allocates, and a
  // handler may request again (add takes the lock).
  for (;;) {
    ReplyHandler handler;
    {
      MutexLock lock(mutex);
      if (deadlines.empty() || deadlines.begin()->first > now_ns) return;
      const std::uint64_t id = deadlines.begin()->second;
      deadlines.erase(deadlines.begin());
      auto it = pending.find(id);
      if (it == pending.end()) continue;
      handler = std::move(it->second.handler);
      pending.erase(it);
    }
    timed_out.fetch_add(1, std::memory_order_relaxed);
    complete(handler, Result<Message>(Errc::timed_out));
  }
}

std::unordered_map<std::uint64_t, RequesterCore::Pending> RequesterCore::take_all() noexcept {
  MutexLock lock(mutex);
  stopped = true;
  deadlines.clear();
  return std::exchange(pending, {});
}

}  // namespace detail

// --- Producer's request members ----------------------------------------------------------

void Producer::request(std::string_view destination, std::string_view payload,
                       const RequestOptions& options, ReplyHandler on_reply) noexcept {
  auto fail = [&](Failure failure) {
    detail::complete(on_reply, Result<Message>(std::move(failure)));
  };
  if (!core_) return fail({Errc::closed, "producer is empty (default-constructed)"});
  if (options.timeout.count() <= 0) {
    return fail({Errc::invalid_argument, "request timeout must be positive"});
  }
  if (!requester_) {
    auto opened = detail::Requester::open(core_);
    if (!opened) return fail(opened.failure());
    requester_ = std::move(*opened);
  }
  const std::int64_t now_ns = core_->clock()->now().time_since_epoch().count();
  const std::uint64_t id =
      requester_->add(detail::deadline_ns(now_ns, options.timeout.count()), on_reply);
  if (id == 0) return fail({Errc::closed, "the requester is closed"});
  Result<MessageId> sent(Errc::out_of_memory);
  try {
    SendOptions send_options;
    send_options.key = options.key;
    send_options.priority = options.priority;
    send_options.ttl = options.timeout;  // RabbitMQ's `expiration` on an RPC request
    send_options.headers = options.headers.with(headers::reply_to, requester_->reply_queue())
                               .with(headers::correlation_id, std::to_string(id));
    sent = send(destination, payload, send_options);
  } catch (const std::bad_alloc&) {
    // sent stays out_of_memory
  }
  if (sent) {
    requester_->count_sent();
    return;
  }
  ReplyHandler handler = requester_->remove(id);
  if (!handler) return;  // ended meanwhile (the requester stopped): already told
  Failure failure = sent.failure();
  if (failure.code == Errc::unknown_destination) {
    // Nobody can answer a request to nowhere (RabbitMQ's mandatory flag: NO_ROUTE).
    failure = {Errc::unroutable, failure.message + ": nobody can answer this request"};
  }
  detail::complete(handler, Result<Message>(std::move(failure)));
}

std::future<Result<Message>> Producer::request_future(std::string_view destination,
                                                      std::string_view payload,
                                                      const RequestOptions& options) {
  auto promise = std::make_shared<std::promise<Result<Message>>>();
  auto future = promise->get_future();
  request(destination, payload, options,
          [promise](Result<Message> outcome) { promise->set_value(std::move(outcome)); });
  return future;
}

Result<Message> Producer::request(std::string_view destination, std::string_view payload,
                                  const RequestOptions& options) noexcept try {
  if (requester_ && requester_->on_reply_thread()) {
    return Result<Message>(Errc::invalid_argument,
                           "a blocking request from this producer's reply thread would wait for "
                           "itself: use the callback form");
  }
  return request_future(destination, payload, options).get();
} catch (const std::bad_alloc&) {
  return Result<Message>(Errc::out_of_memory);
} catch (const std::system_error& e) {
  return Result<Message>(Errc::io_error, e.what());
}

RequestStats Producer::request_stats() const noexcept {
  return requester_ ? requester_->stats() : RequestStats{};
}

std::string Producer::reply_queue() const {
  return requester_ ? requester_->reply_queue() : std::string();
}

}  // namespace switchyard
