// Consumer: pulls (receive) and push workers (run) over a ConsumerState. Design: queue_state.hpp.
#include "switchyard/consumer.hpp"
#include <immintrin.h>
#include <sched.h>
#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <new>
#include "queue/queue_state.hpp"
#include "switchyard/detail/deadline.hpp"
#include "sync/broker_thread.hpp"
#include "util/access.hpp"

namespace switchyard {

namespace detail {

/// What a consumer's push workers share with it; outlives the Consumer when a worker destroys
/// its own consumer from the handler.
struct PushWorkers {
  std::atomic<bool> stopping{false};
  /// Set by close() from a handler: the last worker to end closes the consumer state.
  std::atomic<bool> close_on_exit{false};
  std::atomic<std::size_t> live{0};
};

namespace {
/// The PushWorkers of the consumer whose handler this thread runs, if any.
thread_local const PushWorkers* t_worker_of = nullptr;
}  // namespace

}  // namespace detail

Consumer::Consumer(std::shared_ptr<detail::ConsumerState> state, ConsumerOptions options)
    : state_(std::move(state)),
      options_(std::move(options)),
      control_(std::make_shared<detail::PushWorkers>()) {}

Consumer::Consumer(Consumer&&) noexcept = default;

Consumer& Consumer::operator=(Consumer&& other) noexcept {
  if (this != &other) {
    close();
    join_workers();  // only non-empty when called from our own handler
    state_ = std::move(other.state_);
    options_ = std::move(other.options_);
    control_ = std::move(other.control_);
    workers_ = std::move(other.workers_);
  }
  return *this;
}

Consumer::~Consumer() {
  close();
  join_workers();  // only non-empty when destroyed from our own handler
}

Result<Delivery> Consumer::receive(Duration timeout) & noexcept {
  if (!state_) return Result<Delivery>(Errc::closed, "consumer is empty (moved from)");
  return state_->receive(timeout);
}

Result<std::vector<Delivery>> Consumer::receive(std::size_t max, Duration timeout) & noexcept {
  if (!state_) return Result<std::vector<Delivery>>(Errc::closed, "consumer is empty");
  try {
    std::vector<Delivery> out;
    out.reserve(std::min<std::size_t>(max, 1024));
    auto taken = state_->receive(out, max, timeout);
    if (!taken) return Result<std::vector<Delivery>>(taken.failure());
    return out;
  } catch (const std::bad_alloc&) {
    return Result<std::vector<Delivery>>(Errc::out_of_memory);
  }
}

Result<std::size_t> Consumer::receive(std::vector<Delivery>& out, std::size_t max,
                                      Duration timeout) & noexcept {
  if (!state_) return Result<std::size_t>(Errc::closed, "consumer is empty (moved from)");
  try {
    out.reserve(out.size() + std::min<std::size_t>(max, 1024));
  } catch (const std::bad_alloc&) {
    return Result<std::size_t>(Errc::out_of_memory);
  }
  return state_->receive(out, max, timeout);
}

Status Consumer::ack_all(std::span<Delivery> deliveries) noexcept {
  Status first;
  detail::ConsumerState* last_owner = nullptr;
  // The freed slots of last_owner, given back in runs (one claim of its free list per run).
  detail::FreedSlots freed;
  for (Delivery& delivery : deliveries) {
    detail::ConsumerState* owner = detail::Access::owner(delivery);
    // Settling without a wake-up, so the owner we leave gets its slots back and is woken now.
    if (last_owner != nullptr && owner != last_owner) {
      last_owner->free_slots(freed);
      last_owner->wake_receivers();
    }
    Status status = detail::Access::ack_into(delivery, freed);
    if (owner != nullptr) last_owner = owner;
    if (!status && first) first = std::move(status);
  }
  if (last_owner != nullptr) {
    last_owner->free_slots(freed);
    last_owner->wake_receivers();
  }
  return first;
}

void Consumer::run(Handler handler) {
  if (!state_ || state_->closed()) throw Error(Errc::invalid_argument, "run on a closed consumer");
  if (!workers_.empty()) throw Error(Errc::invalid_argument, "consumer is already running");
  if (!handler) throw Error(Errc::invalid_argument, "run needs a handler");
  control_->stopping.store(false, std::memory_order_relaxed);
  state_->resume();
  auto shared_handler = std::make_shared<Handler>(std::move(handler));
  const std::size_t workers = std::max<std::size_t>(1, options_.workers);
  // Relaxed: the thread starts below synchronize-with this thread.
  control_->live.store(workers, std::memory_order_relaxed);
  for (std::size_t i = 0; i < workers; ++i) {
    auto worker = [state = state_, control = control_, handler = shared_handler,
                   on_error = options_.on_error] {
      detail::t_worker_of = control.get();
      // Acquire pairs with stop()'s release store.
      while (!control->stopping.load(std::memory_order_acquire)) {
        // stop() interrupts the receive; the timeout is only a backstop, long so that a
        // virtual clock (switchyard/testing) does not step through idle workers' timeouts.
        auto received = state->receive(std::chrono::hours(1));
        if (!received) {
          if (received.code() == Errc::closed) break;
          continue;
        }
        Delivery& delivery = *received;
        try {
          (*handler)(delivery);
          if (!delivery.settled()) (void)delivery.ack();
        } catch (...) {
          state->queue()->count_handler_error();
          if (state->queue()->hooks().logging()) {
            try {
              throw;
            } catch (const std::exception& e) {
              state->queue()->log_handler_error(e.what());
            } catch (...) {
              state->queue()->log_handler_error("an exception not derived from std::exception");
            }
          }
          if (on_error) {
            try {
              on_error(delivery, std::current_exception());
            } catch (...) {
              // An error callback that throws is ignored: the count above already records it.
            }
          }
          if (!delivery.settled()) (void)delivery.nack();
        }
      }
      detail::t_worker_of = nullptr;
      // Acq_rel: the last worker sees every earlier worker's close_on_exit store.
      if (control->live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        if (control->close_on_exit.load(std::memory_order_acquire)) {
          state->close();
        } else {
          state->resume();
        }
      }
    };
    workers_.push_back(detail::start_thread(state_->queue()->clock(), std::move(worker)));
  }
}

bool Consumer::in_own_handler() const noexcept {
  return control_ != nullptr && detail::t_worker_of == control_.get();
}

void Consumer::stop() noexcept {
  // From our own handler, workers_ is not ours to read (run() may still be filling it), and
  // joining would wait for ourselves: the workers end by themselves, a later stop / close /
  // destructor joins them.
  if (!in_own_handler() && workers_.empty()) return;
  // Release pairs with the workers' acquire load.
  control_->stopping.store(true, std::memory_order_release);
  state_->interrupt();
  if (in_own_handler()) return;
  join_workers();
  state_->resume();
}

void Consumer::join_workers() noexcept {
  for (auto& worker : workers_) {
    if (worker.get_id() == std::this_thread::get_id()) {
      worker.detach();  // our own handler destroys us: the loop ends when the handler returns
    } else {
      worker.join();
    }
  }
  workers_.clear();
}

void Consumer::close() noexcept {
  if (!state_) return;
  if (in_own_handler()) {
    // Release pairs with the last worker's acquire load (through `live`).
    control_->close_on_exit.store(true, std::memory_order_release);
    stop();
    return;
  }
  stop();
  state_->close();
}

bool Consumer::running() const noexcept {
  return !workers_.empty() && !control_->stopping.load(std::memory_order_relaxed);
}

std::size_t Consumer::in_flight() const noexcept {
  return state_ ? state_->in_flight() : 0;
}

Result<int> Consumer::ready_fd() noexcept {
  if (!state_) return Result<int>(Errc::closed, "consumer is empty (moved from)");
  return state_->ready_fd();
}

Duration Consumer::ready_timeout() const noexcept {
  return state_ ? state_->ready_timeout() : Duration::max();
}

const Clock& Consumer::clock() const noexcept {
  return state_ ? *state_->queue()->clock() : *SystemClock::instance();
}

const std::string& Consumer::tag() const noexcept {
  return state_->tag();
}

const std::string& Consumer::queue_name() const noexcept {
  return state_->queue()->name();
}

}  // namespace switchyard
