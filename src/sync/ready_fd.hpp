// src/sync/ready_fd.hpp — a readiness file descriptor (Linux eventfd) that an event count
// signals, for event loops (epoll, libuv, Boost.Asio) that wait on descriptors, not futexes.
//
// Contract (what Consumer::ready_fd and GroupConsumer::ready_fd document to users)
// --------------------------------------------------------------------------------
//   * The fd is readable whenever a non-blocking receive / poll of its owner would find
//     something (or report `closed`) — as of the last call that found nothing. It may also be
//     readable when nothing is there (spurious: a competing consumer took the message, a slot
//     was freed, a notify for another member). The user never reads it: a call that finds
//     nothing clears it (drains the eventfd) and arms it again, and the next notify of the
//     event count after that writes it. A new fd starts readable.
//   * Level-triggered with respect to that rule: it stays readable until the owner's next call
//     that finds nothing.
//
// Data structures
// ---------------
//   ReadyFd      one eventfd (non-blocking, close-on-exec), `armed_` and `detached_`.
//                armed_ true: the fd is registered as one waiter of its event count and no
//                notify has signalled it since. armed_ false: it was signalled (or is new, or
//                an arm is in progress on a receiving thread, which re-checks after it).
//   ReadyFdSet   the fds attached to one event count (a vector under a Mutex), and how many
//                (an atomic the notifier reads before it takes the mutex).
//
// Protocol (owner, on a call that found nothing — `EventCount::arm`):
//   under arm_mutex_: drain the eventfd; if armed_ was false, register as a waiter of the
//   event count (prepare_wait: its increment and seq_cst fence); else take a fence the same
//   way (prepare_wait + cancel_wait). Then look once more for work (the caller's re-check).
// Protocol (notifier — the event count's wake, which runs only when it found waiters):
//   if the set is non-empty: under the set's mutex, for each fd, `armed_.exchange(false)`; the
//   one that was armed is written (eventfd += 1) and its waiter registration dropped.
//
// Why no readiness is lost: an armed fd is a registered waiter, so the event count's own
// proof applies (event_count.hpp): either the owner's re-check after its fence sees the
// notifier's change, or the notifier sees the registration and writes the fd. The drain comes
// before the arm; a notify whose exchange reads the arm's exchange synchronises with it
// (acq_rel), so its write comes after the drain and survives. Arms are serialised by
// arm_mutex_: a second arm that finds armed_ already true takes its own fence after the first
// one's (the mutex orders them), so its re-check sees what the first registration covers.
//
// Threads: arm/disarm/detach from any thread (arm_mutex_); `fire` from any notifier. The
// set's mutex is innermost (a notifier may hold a queue's slow-lane mutex when it wakes); it
// guards only the vector. Lifetimes: an fd is detached (and its registration dropped) before
// it is destroyed; after `detach` returns no notifier touches it.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchyard/error.hpp"
#include "sync/mutex.hpp"

namespace switchyard::detail {

class ReadyFd {
 public:
  /// A new eventfd, readable. `io_error` naming errno when the kernel refuses one (EMFILE...).
  static Result<std::unique_ptr<ReadyFd>> create() noexcept {
    const int fd = ::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      return Result<std::unique_ptr<ReadyFd>>(
          Errc::io_error, std::string("eventfd for a readiness fd: ") + std::strerror(errno));
    }
    try {
      return std::unique_ptr<ReadyFd>(new ReadyFd(fd));
    } catch (...) {
      ::close(fd);
      return Result<std::unique_ptr<ReadyFd>>(Errc::out_of_memory);
    }
  }
  ReadyFd(const ReadyFd&) = delete;
  ReadyFd& operator=(const ReadyFd&) = delete;
  ~ReadyFd() { ::close(fd_); }

  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// Makes the fd readable (the counter saturates long before 2^64 - 1: one write per arm).
  void signal() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN only at a counter of 2^64 - 2, which is readable anyway.
    [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
  }
  /// Makes the fd unreadable (until the next signal).
  void drain() noexcept {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
  }

 private:
  template <class>
  friend class ReadyFdArm;
  friend class ReadyFdSet;
  explicit ReadyFd(int fd) noexcept : fd_(fd) {}

  const int fd_;
  Mutex arm_mutex_;
  bool detached_ GUARDED_BY(arm_mutex_) = false;
  /// See the file comment. Written by arms (true, under arm_mutex_), notifiers and detach
  /// (false); every access is an acq_rel exchange, so they form one chain.
  std::atomic<bool> armed_{false};
  /// The registration's key, for an event count whose cancel needs it (CoalescingEventCount).
  std::uint64_t key_ GUARDED_BY(arm_mutex_) = 0;
};

/// The fds attached to one event count. @note threadsafe
class ReadyFdSet {
 public:
  /// Whether any fd is attached (a hint for the notifier: one acquire load).
  [[nodiscard]] bool any() const noexcept {
    // Acquire: pairs with attach's release; an fd attached later was armed later, and its
    // arm's registration is what makes a notifier reach here.
    return count_.load(std::memory_order_acquire) != 0;
  }
  /// Throws std::bad_alloc (nothing attached then).
  void attach(ReadyFd& fd) {
    MutexLock lock(mutex_);
    fds_.push_back(&fd);
    count_.store(static_cast<std::uint32_t>(fds_.size()), std::memory_order_release);
  }
  void detach(ReadyFd& fd) noexcept {
    MutexLock lock(mutex_);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), &fd), fds_.end());
    count_.store(static_cast<std::uint32_t>(fds_.size()), std::memory_order_release);
  }
  /// Signals every armed fd and disarms it; `unregister()` once per fd disarmed (the event
  /// count drops its waiter registration there, if the wake did not already).
  template <class Unregister>
  void fire(Unregister&& unregister) noexcept {
    MutexLock lock(mutex_);
    for (ReadyFd* fd : fds_) {
      // Acq_rel: acquire pairs with the arm's exchange (its drain comes before this write);
      // release pairs with the next arm's exchange (this notify's change is then visible to
      // that arm's re-check).
      if (fd->armed_.exchange(false, std::memory_order_acq_rel)) {
        fd->signal();
        unregister();
      }
    }
  }

 private:
  Mutex mutex_;
  std::vector<ReadyFd*> fds_ GUARDED_BY(mutex_);
  std::atomic<std::uint32_t> count_{0};
};

/// Arming and disarming `ReadyFd`s on an event count `Event` (EventCount or
/// CoalescingEventCount; see the file comment for the protocol).
template <class Event>
class ReadyFdArm {
 public:
  /// Clears `fd` and registers it with `event`, unless detached. The caller then looks for
  /// work once more (and returns it, or reports that it found nothing).
  static void arm(Event& event, ReadyFd& fd) noexcept {
    MutexLock lock(fd.arm_mutex_);
    if (fd.detached_) return;
    fd.drain();
    if (!fd.armed_.exchange(true, std::memory_order_acq_rel)) {
      fd.key_ = encode(event.prepare_wait());
    } else {
      // Still registered: only the fence, after the previous arm's (see the file comment).
      cancel(event, event.prepare_wait());
    }
  }
  /// Drops `fd`'s registration, detaches it from `event` and leaves it readable for good (its
  /// owner is closed: every later call reports `closed`).
  static void detach(Event& event, ReadyFd& fd) noexcept {
    {
      MutexLock lock(fd.arm_mutex_);
      fd.detached_ = true;
      if (fd.armed_.exchange(false, std::memory_order_acq_rel)) {
        cancel(event, decode(fd.key_));
      }
      fd.signal();
    }
    event.ready_fds().detach(fd);
  }

 private:
  template <class Key>
  static void cancel(Event& event, Key key) noexcept {
    if constexpr (requires { event.cancel_wait(key); }) {
      event.cancel_wait(key);
    } else {
      event.cancel_wait();
    }
  }
  template <class Key>
  static std::uint64_t encode(Key key) noexcept {
    if constexpr (std::is_integral_v<Key>) {
      return key;
    } else {
      return (std::uint64_t{key.round} << 32) | key.wake;
    }
  }
  static auto decode(std::uint64_t bits) noexcept {
    using Key = decltype(std::declval<Event&>().prepare_wait());
    if constexpr (std::is_integral_v<Key>) {
      return static_cast<Key>(bits);
    } else {
      return Key{static_cast<std::uint32_t>(bits >> 32), static_cast<std::uint32_t>(bits)};
    }
  }
};

}  // namespace switchyard::detail
