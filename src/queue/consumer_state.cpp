// A consumer's state: the in-flight window, the receive loop with its wait strategy, settling.
// Design notes: src/queue/queue_state.hpp.
#include "switchyard/consumer.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <new>
#include <string>

#include "queue/queue_state.hpp"
#include "switchyard/detail/deadline.hpp"
#include "sync/idle_wait.hpp"
#include "util/access.hpp"
#include "util/time.hpp"

namespace switchyard {

namespace detail {

namespace {

/// "consumer-<n>", n unique in the process (a tag nobody gave).
std::string next_tag() {
  static std::atomic<std::uint64_t> made{0};
  // Relaxed: only uniqueness is needed.
  return "consumer-" + std::to_string(made.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

ConsumerState::ConsumerState(std::shared_ptr<QueueState> queue, std::uint32_t prefetch,
                             WaitStrategy wait, std::string tag)
    : queue_(std::move(queue)),
      prefetch_(prefetch),
      wait_(wait),
      tag_(tag.empty() ? next_tag() : std::move(tag)),
      interceptors_(queue_->hooks().interceptors()),
      base_shift_(static_cast<unsigned>(
          std::countr_zero(std::bit_ceil(std::clamp<std::uint32_t>(prefetch, 1, 256))))),
      free_(prefetch) {
  // Chunk 0 now (its indices free from the start); the rest as the window fills.
  first_slots_ = std::min(prefetch_, std::uint32_t{1} << base_shift_);
  first_ = new Slot[first_slots_];
  chunks_[0].store(first_, std::memory_order_relaxed);
  slots_used_.store(first_slots_, std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < first_slots_; ++i) (void)free_.try_push(std::uint32_t{i});
  try {
    queue_->register_consumer(this);
  } catch (...) {
    delete[] first_;
    throw;
  }
}

ConsumerState::~ConsumerState() {
  close();
  for (auto& chunk : chunks_) delete[] chunk.load(std::memory_order_relaxed);
}

bool ConsumerState::new_slot(std::uint32_t& index) noexcept {
  // Relaxed: a hint; the count is decided under the mutex.
  if (slots_used_.load(std::memory_order_relaxed) >= prefetch_) return false;
  MutexLock lock(grow_mutex_);
  const std::uint32_t next = slots_used_.load(std::memory_order_relaxed);
  if (next >= prefetch_) return false;
  const std::uint64_t base = std::uint64_t{1} << base_shift_;
  const std::uint64_t j = next + base;
  const unsigned k = static_cast<unsigned>(std::bit_width(j)) - 1 - base_shift_;
  if (chunks_[k].load(std::memory_order_relaxed) == nullptr) {
    // The chunk's first index is `next`; it holds base << k, fewer at the end of the window.
    const std::uint64_t size = std::min<std::uint64_t>(base << k, prefetch_ - next);
    Slot* chunk = new (std::nothrow) Slot[size];
    if (chunk == nullptr) return false;
    // Release: pairs with slot()'s acquire load.
    chunks_[k].store(chunk, std::memory_order_release);
  }
  // Release: pairs with the acquire loads of the loops over the created slots.
  slots_used_.store(next + 1, std::memory_order_release);
  index = next;
  return true;
}

bool ConsumerState::try_receive_one(TimePoint now, Duration lag, Delivery& out) noexcept {
  if (!queue_->maybe_ready(now) || !queue_->may_receive(this)) return false;
  std::uint32_t index = 0;
  if (!free_.try_pop(index) && !new_slot(index)) return false;  // at the prefetch limit
  Entry entry;
  if (queue_->try_take(entry, now) != QueueState::Take::got) {
    (void)free_.try_push(std::uint32_t{index});
    return false;
  }
  out = install(index, std::move(entry), visibility_deadline(now, lag), now, shared_from_this());
  return true;
}

std::size_t ConsumerState::try_receive_run(TimePoint now, Duration lag, std::vector<Delivery>& out,
                                           std::size_t max) noexcept {
  // Runs of up to kRun: free slots first, then that many entries in one take.
  constexpr std::size_t kRun = 64;
  std::array<std::uint32_t, kRun> indices;
  std::array<Entry, kRun> entries;
  const std::shared_ptr<ConsumerState> self = shared_from_this();
  const std::int64_t deadline = visibility_deadline(now, lag);
  std::size_t received = 0;
  LatencyRecorder::Tally ages;  // the run's delivery ages, added to the queue's once
  while (received < max && queue_->maybe_ready(now) && queue_->may_receive(this)) {
    const std::size_t want = std::min(kRun, max - received);
    std::size_t slots = 0;
    free_.try_pop_run(want, [&](std::uint32_t&& index) noexcept { indices[slots++] = index; });
    while (slots < want && new_slot(indices[slots])) ++slots;
    const std::size_t taken =
        slots == 0 ? 0 : queue_->try_take_run(std::span<Entry>(entries.data(), slots), now);
    for (std::size_t i = taken; i < slots; ++i) (void)free_.try_push(std::uint32_t{indices[i]});
    for (std::size_t i = 0; i < taken; ++i) {
      out.push_back(install(indices[i], std::move(entries[i]), deadline, now, self, &ages));
    }
    received += taken;
    if (taken == 0) break;
  }
  if (received != 0) queue_->count_delivery_ages(ages);
  return received;
}

std::int64_t ConsumerState::visibility_deadline(TimePoint now, Duration lag) noexcept {
  const Duration visibility = queue_->options().visibility_timeout;
  if (visibility.count() <= 0) return kNever;
  // `now` may lag real time by `lag` (a coarse reading): the deadline must not come early.
  const std::int64_t deadline = deadline_ns(deadline_ns(ns(now), lag.count()), visibility.count());
  queue_->note_delivery_deadline(deadline);
  return deadline;
}

Delivery ConsumerState::install(std::uint32_t index, Entry&& entry, std::int64_t deadline_ns,
                                TimePoint now, std::shared_ptr<ConsumerState> self,
                                LatencyRecorder::Tally* ages) noexcept {
  ++entry.deliveries;
  if (entry.deliveries > 1) queue_->count_redelivered();
  Slot& slot = this->slot(index);
  // One delivery's age: into the slot if it is in the first kSlotAgeBuckets buckets (plain
  // stores instead of two RMWs on the queue's recorder), else into the recorder.
  bool counted = false;
  if (ages == nullptr) {
    const std::int64_t age = ns(now) - Access::body(entry.message)->sent_ns;
    const std::uint64_t value = age > 0 ? static_cast<std::uint64_t>(age) : 0;
    const std::size_t bucket = LatencyRecorder::bucket_of(value);
    if (bucket < kSlotAgeBuckets) [[likely]] {
      std::atomic<std::uint64_t>& count = slot.ages[bucket];
      count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      slot.age_ns.store(slot.age_ns.load(std::memory_order_relaxed) + value,
                        std::memory_order_relaxed);
      counted = true;
    }
  }
  queue_->delivered(entry, now, ages, /*count_age=*/!counted);
  // The slot is free (even) and ours alone until the release store below.
  const std::uint64_t generation = slot.state.load(std::memory_order_relaxed) + 1;
  slot.deadline_ns.store(deadline_ns, std::memory_order_relaxed);
  const std::uint32_t attempt = entry.deliveries;
  // Release: a peek that acquires these and then sees `state` unchanged read this delivery's.
  slot.id.store(entry.message.id(), std::memory_order_release);
  slot.sent_ns.store(Access::body(entry.message)->sent_ns, std::memory_order_release);
  slot.received_ns.store(ns(now), std::memory_order_release);
  slot.attempt.store(attempt, std::memory_order_release);
  Message message = entry.message;
  slot.entry = std::move(entry);
  // Release: publishes entry and deadline to whoever wins the settle CAS on this state.
  slot.state.store(generation, std::memory_order_release);
  Delivery delivery =
      Access::make<Delivery>(std::move(self), std::move(message), index, generation, attempt);
  if (!interceptors_.empty()) [[unlikely]] {
    queue_->hooks().each_of(interceptors_, "on_receive",
                            [&](Interceptor& i) { i.on_receive(queue_->name(), delivery); });
  }
  return delivery;
}

void ConsumerState::wait_for_work(TimePoint now, TimePoint deadline, IdleWait& idle) noexcept {
  // Spin on the queue's lock-free "something is there" hint, not on the clock: a clock read
  // costs tens of nanoseconds on a VM, a look at the hint a few when nothing changed.
  // A consumer that is not its queue's single active one waits for the election's notify.
  if (idle.pause([this]() noexcept { return queue_->ready_hint() && queue_->may_receive(this); }))
    return;
  IdleWait::park(
      queue_->ready_event(),
      [&]() noexcept {
        return (queue_->maybe_ready(now) && has_free_slot() && queue_->may_receive(this)) ||
               closed() || queue_->closed_for_receive() ||
               interrupted_.load(std::memory_order_acquire);
      },
      now, std::min(deadline, queue_->next_wakeup()), *queue_->clock());
}

Result<Delivery> ConsumerState::receive(Duration timeout) noexcept {
  const Clock& clock = *queue_->clock();
  if (closed() || queue_->closed_for_receive()) return Result<Delivery>(Errc::closed);
  Delivery delivery;
  {
    // The first look goes by the coarse clock (a fifth of a precise read): when a message is
    // ready, that is all a receive costs. Only a receive that has to wait reads the precise one.
    const TimePoint coarse = clock.coarse_now();
    queue_->maybe_scan_visibility(coarse);
    if (try_receive_one(coarse, clock.coarse_resolution(), delivery)) return delivery;
  }
  TimePoint now = clock.now();
  const TimePoint deadline = deadline_after(now, timeout);
  IdleWait idle(wait_);
  bool armed = false;
  for (;;) {
    if (closed() || queue_->closed_for_receive()) {
      // Closed while we armed the fd: leave it readable, as the close's notify may have
      // come before our registration.
      if (armed) ready_fd_.load(std::memory_order_acquire)->signal();
      return Result<Delivery>(Errc::closed);
    }
    queue_->maybe_scan_visibility(now);
    if (try_receive_one(now, Duration{0}, delivery)) return delivery;
    if (now >= deadline || interrupted_.load(std::memory_order_acquire)) {
      // Acquire: pairs with ready_fd()'s release (the fd is attached).
      ReadyFd* fd = ready_fd_.load(std::memory_order_acquire);
      if (fd == nullptr || armed) return Result<Delivery>(Errc::timed_out);
      // Found nothing: clear the readiness fd and arm it, then look once more (ready_fd.hpp).
      ReadyFdArm<EventCount>::arm(queue_->ready_event(), *fd);
      armed = true;
      continue;
    }
    wait_for_work(now, deadline, idle);
    now = clock.now();
  }
}

Result<std::size_t> ConsumerState::receive(std::vector<Delivery>& out, std::size_t max,
                                           Duration timeout) noexcept {
  // Never beyond the room the caller reserved: a push_back that allocates could throw here.
  max = std::min(max, out.capacity() - out.size());
  if (max == 0) return std::size_t{0};
  auto first = receive(timeout);
  if (!first) return Result<std::size_t>(first.failure());
  out.push_back(std::move(*first));
  std::size_t taken = 1;
  const Clock& clock = *queue_->clock();
  taken += try_receive_run(clock.coarse_now(), clock.coarse_resolution(), out, max - taken);
  return taken;
}

void ConsumerState::free_slots(FreedSlots& freed) noexcept {
  std::size_t pushed = free_.try_push_run(freed.indices, freed.size);
  // Short only when the spill found no memory: as a single settle's push, the index is lost
  // to the window (it shrinks by one), never handed out twice.
  (void)pushed;
  freed.size = 0;
}

Status ConsumerState::settle(std::uint32_t index, std::uint64_t generation, Settle how,
                             std::string_view why, bool wake, FreedSlots* freed) noexcept {
  Slot& slot = this->slot(index);
  std::uint64_t expected = generation;
  // Acq_rel: acquire pairs with the receive's release (we read the entry next); release
  // orders our move out of the slot before the index is seen free again.
  if (!slot.state.compare_exchange_strong(expected, generation + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
    return Status(Errc::stale_delivery,
                  "delivery was already settled, or taken back by its visibility timeout or "
                  "its consumer's close");
  }
  Entry entry = std::move(slot.entry);
  // Counted before the slot is freed: after that, its next settler may be counting.
  if (how == Settle::ack) {
    slot.acks.store(slot.acks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    nacked_.fetch_add(1, std::memory_order_relaxed);
  }
  if (freed != nullptr) {
    freed->indices[freed->size++] = index;
    if (freed->size == FreedSlots::kMax) free_slots(*freed);
  } else {
    (void)free_.try_push(std::uint32_t{index});
  }
  if (!interceptors_.empty()) [[unlikely]]
    intercept_settle(how, entry, why);
  if (how == Settle::ack && !queue_->settle_is_trivial(entry)) {
    Status outcome = queue_->settled(entry);  // a journal record, or a group to release
    if (wake) wake_receivers();
    return outcome;
  }
  if (how == Settle::requeue) {
    queue_->requeue(std::move(entry), queue_->clock()->now());
  } else if (how == Settle::dead_letter) {
    queue_->dead_letter(std::move(entry), why);
  }
  if (wake) wake_receivers();
  return {};
}

void ConsumerState::intercept_settle(Settle how, const Entry& entry,
                                     std::string_view why) noexcept {
  const std::string_view queue = queue_->name();
  const Message& message = entry.message;
  const std::uint32_t attempt = entry.deliveries;
  const Hooks& hooks = queue_->hooks();
  switch (how) {
    case Settle::ack:
      hooks.each_of(interceptors_, "on_ack",
                    [&](Interceptor& i) { i.on_ack(queue, message, attempt); });
      break;
    case Settle::requeue:
      hooks.each_of(interceptors_, "on_nack",
                    [&](Interceptor& i) { i.on_nack(queue, message, attempt); });
      break;
    case Settle::dead_letter:
      hooks.each_of(interceptors_, "on_reject",
                    [&](Interceptor& i) { i.on_reject(queue, message, attempt, why); });
      break;
  }
}

Status ConsumerState::extend(std::uint32_t index, std::uint64_t generation) noexcept {
  Slot& slot = this->slot(index);
  if (slot.state.load(std::memory_order_acquire) != generation) {
    return Status(Errc::stale_delivery, "delivery was already settled or taken back");
  }
  const Duration visibility = queue_->options().visibility_timeout;
  if (visibility.count() > 0) {
    slot.deadline_ns.store(deadline_ns(ns(queue_->clock()->now()), visibility.count()),
                           std::memory_order_relaxed);
  }
  return {};
}

std::int64_t ConsumerState::reclaim(TimePoint now) noexcept {
  std::int64_t earliest = kNever;
  // Acquire: pairs with new_slot's release (the slots counted exist).
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    Slot& slot = this->slot(i);
    std::uint64_t state = slot.state.load(std::memory_order_acquire);
    if ((state & 1) == 0) continue;
    const std::int64_t deadline = slot.deadline_ns.load(std::memory_order_relaxed);
    if (now != TimePoint::max() && deadline > ns(now)) {
      earliest = std::min(earliest, deadline);
      continue;
    }
    if (!slot.state.compare_exchange_strong(state, state + 1, std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
      continue;  // settled meanwhile
    }
    take_back(
        i, now == TimePoint::max() ? Redelivery::consumer_closed : Redelivery::visibility_timeout);
  }
  return earliest;
}

void ConsumerState::take_back(std::uint32_t index, Redelivery why) noexcept {
  Entry entry = std::move(slot(index).entry);
  (void)free_.try_push(std::uint32_t{index});
  if (!interceptors_.empty()) [[unlikely]] {
    queue_->hooks().each_of(interceptors_, "on_redelivery", [&](Interceptor& i) {
      i.on_redelivery(queue_->name(), entry.message, entry.deliveries, why);
    });
  }
  queue_->requeue(std::move(entry), queue_->clock()->now());
}

Status ConsumerState::change_visibility(std::uint32_t index, std::uint64_t generation,
                                        Duration timeout) noexcept {
  if (timeout.count() < 0) {
    return Status(Errc::invalid_argument, "change_visibility: negative timeout");
  }
  Slot& slot = this->slot(index);
  if (timeout.count() == 0) {
    // SQS: "a visibility timeout of 0 ... makes the message visible immediately". Taken back
    // exactly as an expired visibility timeout would take it (the queue's retry rules apply).
    std::uint64_t expected = generation;
    // Acq_rel: as in settle (we read the entry next; the index is seen free after our move).
    if (!slot.state.compare_exchange_strong(expected, generation + 1, std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
      return Status(Errc::stale_delivery, "delivery was already settled or taken back");
    }
    take_back(index, Redelivery::visibility_timeout);
    wake_receivers();
    return {};
  }
  // Acquire: pairs with install's release (received_ns is this delivery's).
  if (slot.state.load(std::memory_order_acquire) != generation) {
    return Status(Errc::stale_delivery, "delivery was already settled or taken back");
  }
  const std::int64_t now = ns(queue_->clock()->now());
  const std::int64_t deadline = deadline_ns(now, timeout.count());
  // SQS: "you can continue to call ChangeMessageVisibility to extend the visibility timeout to
  // the maximum allowed time [12 hours from the receive]. If you try to extend the visibility
  // timeout beyond the maximum, your request is rejected."
  const std::int64_t limit =
      deadline_ns(slot.received_ns.load(std::memory_order_acquire), kMaxVisibility.count());
  if (deadline > limit) {
    return Status(Errc::invalid_argument,
                  "change_visibility: the message would stay invisible past 12 hours after its "
                  "receive (SQS's maximum)");
  }
  slot.deadline_ns.store(deadline, std::memory_order_relaxed);
  queue_->note_earlier_deadline(deadline);
  return {};
}

void ConsumerState::held(std::vector<HeldView>& out, std::size_t max) const {
  // Acquire: as in reclaim.
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used && out.size() < max; ++i) {
    const Slot& slot = this->slot(i);
    // A seqlock read: the fields are stored (release) before the odd state that owns them, and
    // loaded (acquire) between two loads of the state; if a later install's values were read,
    // its state (and the settle's before it) is visible to the second load, which then differs.
    for (int tries = 0; tries < 4; ++tries) {
      const std::uint64_t before = slot.state.load(std::memory_order_acquire);
      if ((before & 1) == 0) break;
      HeldView view{slot.id.load(std::memory_order_acquire),
                    slot.attempt.load(std::memory_order_acquire),
                    slot.sent_ns.load(std::memory_order_acquire),
                    slot.received_ns.load(std::memory_order_acquire),
                    slot.deadline_ns.load(std::memory_order_acquire)};
      if (slot.state.load(std::memory_order_acquire) == before) {
        out.push_back(view);
        break;
      }
    }
  }
}

void ConsumerState::close() noexcept {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  // Unregister first: a visibility scan that starts later no longer sees us, and one in
  // progress finishes before we go on (it holds the registry lock).
  queue_->unregister_consumer(this);
  reclaim(TimePoint::max());
  // Single active consumer: the successor takes over only now, behind what we put back.
  queue_->elect_active_consumer();
  queue_->ready_event().notify_all();
  MutexLock lock(ready_fd_mutex_);
  // Readable for good from here: every later receive reports `closed`.
  if (ready_fd_owner_) ReadyFdArm<EventCount>::detach(queue_->ready_event(), *ready_fd_owner_);
}

Result<int> ConsumerState::ready_fd() noexcept {
  // Acquire: pairs with the release below.
  if (ReadyFd* fd = ready_fd_.load(std::memory_order_acquire)) return fd->fd();
  MutexLock lock(ready_fd_mutex_);
  if (ready_fd_owner_) return ready_fd_owner_->fd();
  auto made = ReadyFd::create();  // readable: a first receive finds what is there
  if (!made) return Result<int>(made.failure());
  try {
    queue_->ready_event().ready_fds().attach(**made);
  } catch (...) {
    return Result<int>(Errc::out_of_memory);
  }
  ready_fd_owner_ = std::move(*made);
  // A close that ran before the attach found no fd to detach: detach it here.
  if (closed()) ReadyFdArm<EventCount>::detach(queue_->ready_event(), *ready_fd_owner_);
  // Release: pairs with receive's acquire load (the attach above is complete).
  ready_fd_.store(ready_fd_owner_.get(), std::memory_order_release);
  return ready_fd_owner_->fd();
}

Duration ConsumerState::ready_timeout() const noexcept {
  const Clock& clock = *queue_->clock();
  Duration timeout = clock.max_real_sleep();
  const TimePoint wake = queue_->next_wakeup();
  if (wake != TimePoint::max()) {
    const TimePoint now = clock.now();
    timeout = std::min<Duration>(timeout, wake > now ? wake - now : Duration{0});
  }
  return timeout;
}

void ConsumerState::interrupt() noexcept {
  interrupted_.store(true, std::memory_order_release);
  queue_->ready_event().notify_all();
}

std::uint64_t ConsumerState::acked() const noexcept {
  std::uint64_t acks = 0;
  // Acquire: as in reclaim.
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    acks += slot(i).acks.load(std::memory_order_relaxed);
  }
  return acks;
}

ConsumerState::YoungAges ConsumerState::young_ages() const noexcept {
  YoungAges ages;
  // Acquire: as in reclaim.
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    const Slot& s = slot(i);
    for (std::size_t b = 0; b < kSlotAgeBuckets; ++b)
      ages.counts[b] += s.ages[b].load(std::memory_order_relaxed);
    ages.sum_ns += s.age_ns.load(std::memory_order_relaxed);
  }
  return ages;
}

std::size_t ConsumerState::in_flight() const noexcept {
  std::size_t held = 0;
  // Acquire: as in reclaim.
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    held += slot(i).state.load(std::memory_order_relaxed) & 1;
  }
  return held;
}

}  // namespace detail

}  // namespace switchyard
