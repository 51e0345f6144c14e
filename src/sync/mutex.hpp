// src/sync/mutex.hpp — the library's locks, annotated for clang's -Wthread-safety.
//
// libstdc++'s std::mutex and std::shared_mutex carry no capability attributes, so clang cannot
// check a GUARDED_BY(std::mutex) member. These wrappers add the attributes and nothing else:
// every member is inline and forwards to the standard type (no virtuals, no extra state — the
// generated code is that of std::mutex / std::lock_guard), and under g++ the annotations are
// empty (sync/thread_annotations.hpp).
//
//   Mutex          std::mutex.
//   SharedMutex    std::shared_mutex: exclusive (writers) and shared (readers) holds.
//   MutexLock      std::lock_guard: holds a Mutex or a SharedMutex exclusively for its scope.
//   SharedLock     std::shared_lock for a scope: holds a SharedMutex shared.
//   UniqueLock     std::unique_lock<std::mutex>: held at construction, may be released and
//                  taken again before the scope ends (lock() / unlock()).
//   CondVar        std::condition_variable waiting on a Mutex the caller holds.
//
// Threads: as the standard types they wrap. None of them is copyable or movable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "sync/thread_annotations.hpp"

namespace switchyard::detail {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mutex_;
};

class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ACQUIRE() { mutex_.lock(); }
  void unlock() RELEASE() { mutex_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mutex_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mutex_.unlock_shared(); }

 private:
  std::shared_mutex mutex_;
};

/// Holds `M` (Mutex or SharedMutex) exclusively from construction to the end of the scope.
template <class M>
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(M& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  M& mutex_;
};

/// Holds a SharedMutex shared from construction to the end of the scope.
class SCOPED_CAPABILITY SharedLock {
 public:
  explicit SharedLock(SharedMutex& mutex) ACQUIRE_SHARED(mutex) : mutex_(mutex) {
    mutex_.lock_shared();
  }
  ~SharedLock() RELEASE() { mutex_.unlock_shared(); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  SharedMutex& mutex_;
};

/// Holds a Mutex from construction; unlock() and lock() release and retake it within the
/// scope, and the destructor releases it only if held (std::unique_lock's ownership flag).
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(Mutex& mutex) ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~UniqueLock() RELEASE() {
    if (owns_) mutex_.unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() ACQUIRE() {
    mutex_.lock();
    owns_ = true;
  }
  void unlock() RELEASE() {
    owns_ = false;
    mutex_.unlock();
  }

 private:
  Mutex& mutex_;
  bool owns_ = true;
};

/// A condition variable over a Mutex. Each wait is called with the mutex held (by any of the
/// scoped locks above), releases it while blocked and holds it again when it returns; like
/// std::condition_variable it may wake spuriously, so callers loop on their condition (the
/// condition reads guarded state, so it is written at the call site, where clang sees the
/// lock, rather than passed in as a predicate).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(Mutex& mutex) REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    cv_.wait(lock);
    (void)lock.release();  // the caller's scoped lock still owns the mutex
  }

  /// Returns std::cv_status::timeout when `deadline` passed.
  template <class Clock, class Duration>
  std::cv_status wait_until(Mutex& mutex, const std::chrono::time_point<Clock, Duration>& deadline)
      REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    const std::cv_status status = cv_.wait_until(lock, deadline);
    (void)lock.release();  // the caller's scoped lock still owns the mutex
    return status;
  }

 private:
  std::condition_variable cv_;
};

}  // namespace switchyard::detail
