// Request / reply, the answering side: the Responder (switchyard/request.hpp).
//
// Threading: the handler runs on the push consumer's workers. Each reply is sent through a
// Producer taken from core->producers (under its mutex) and given back after: a Producer is
// not thread-safe, and one per reply would spend a block of message ids each time. The pool
// holds one per worker, so a worker always finds one.
#include <vector>

#include "switchyard/broker.hpp"
#include "switchyard/request.hpp"
#include "sync/mutex.hpp"

namespace switchyard {

namespace detail {

struct ResponderCore {
  Responder::Handler handler;
  Mutex mutex;
  std::vector<Producer> producers GUARDED_BY(mutex);
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> unanswerable{0};
  std::atomic<std::uint64_t> dropped{0};

  Producer take() noexcept {
    MutexLock lock(mutex);
    if (producers.empty()) return Producer();  // cannot happen (one per worker): send fails
    Producer p = std::move(producers.back());
    producers.pop_back();
    return p;
  }
  void give_back(Producer&& p) noexcept {
    try {
      MutexLock lock(mutex);
      producers.push_back(std::move(p));
    } catch (const std::bad_alloc&) {
      // Dropped: the next reply makes another.
    }
  }

  /// Answers one request (the push consumer acks it when this returns).
  void answer(const Delivery& request) {
    Result<Reply> reply(Errc::remote_error, "no reply");
    try {
      reply = handler(request);
    } catch (const std::exception& e) {
      reply = Result<Reply>(Errc::remote_error, std::string("the responder threw: ") + e.what());
    } catch (...) {
      reply = Result<Reply>(Errc::remote_error, "the responder threw a non-standard exception");
    }
    const auto reply_to = request.headers().find(headers::reply_to);
    if (!reply_to) {
      unanswerable.fetch_add(1, std::memory_order_relaxed);  // one-way: nobody to answer
      return;
    }
    const std::string_view correlation = request.headers().get(headers::correlation_id);
    SendOptions options;
    std::string_view payload;
    if (reply) {
      options.headers = reply->headers.with(headers::correlation_id, correlation);
      payload = reply->payload;
    } else {
      failed.fetch_add(1, std::memory_order_relaxed);
      const std::string why = std::string(to_string(reply.code())) + ": " + reply.message();
      options.headers = Headers{{headers::correlation_id, correlation}, {headers::error, why}};
    }
    Producer producer = take();
    auto sent = producer.send(*reply_to, payload, options);
    give_back(std::move(producer));
    if (sent) {
      answered.fetch_add(1, std::memory_order_relaxed);
    } else {
      dropped.fetch_add(1, std::memory_order_relaxed);  // its requester is gone (RabbitMQ drops it)
    }
  }
};

}  // namespace detail

Responder::Responder(Broker& broker, std::string_view queue, Handler handler,
                     ResponderOptions options) {
  if (!handler) throw Error(Errc::invalid_argument, "responder needs a handler");
  if (options.workers == 0) throw Error(Errc::invalid_argument, "responder needs a worker");
  auto core = std::make_shared<detail::ResponderCore>();
  core->handler = std::move(handler);
  {
    detail::MutexLock lock(core->mutex);
    for (std::size_t i = 0; i < options.workers; ++i) core->producers.push_back(broker.producer());
  }
  consumer_ = broker.consumer(queue, {.workers = options.workers, .prefetch = options.prefetch});
  consumer_.run([core](Delivery& request) { core->answer(request); });
  core_ = std::move(core);
}

Responder::Responder(Responder&&) noexcept = default;
Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    close();
    core_ = std::move(other.core_);
    consumer_ = std::move(other.consumer_);
  }
  return *this;
}
Responder::~Responder() {
  close();
}

void Responder::close() noexcept {
  consumer_.close();
}

ResponderStats Responder::stats() const noexcept {
  if (!core_) return {};
  return {core_->answered.load(std::memory_order_relaxed),
          core_->failed.load(std::memory_order_relaxed),
          core_->unanswerable.load(std::memory_order_relaxed),
          core_->dropped.load(std::memory_order_relaxed)};
}

}  // namespace switchyard
