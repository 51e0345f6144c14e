// src/sync/thread_annotations.hpp — lock discipline stated where clang can check it.
//
// The macros wrap clang's thread-safety attributes
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html); under any other compiler they expand
// to nothing. The `asan` preset compiles with clang and `-Wthread-safety` (an error there, as
// every warning of our own targets: docs/architecture.md).
//
//   CAPABILITY(name)        on a lock type (sync/mutex.hpp: Mutex, SharedMutex).
//   SCOPED_CAPABILITY       on an RAII type that holds a lock for its lifetime (MutexLock, ...).
//   GUARDED_BY(m)           on a member: read and written only while holding `m` (reads also
//                           under a shared hold of it).
//   PT_GUARDED_BY(m)        on a pointer member: what it points to is guarded by `m`.
//   REQUIRES(m...)          on a function: the caller holds `m` exclusively (the `*_locked`
//                           functions).
//   REQUIRES_SHARED(m...)   the caller holds `m` at least shared.
//   ACQUIRE(m...) / RELEASE(m...), ACQUIRE_SHARED / RELEASE_SHARED
//                           on functions that take or give up `m` (the lock types' members).
//   EXCLUDES(m...)          the caller must not hold `m` (the function takes it itself).
//   NO_THREAD_SAFETY_ANALYSIS  turns the check off for one function. Each use states why the
//                           analysis cannot follow that function's locking.
//
// The analysis is intra-procedural and by name: it checks that each access to a GUARDED_BY
// member happens with that exact mutex expression held, and that REQUIRES is met at each call.
// It does not see lock-free protocols (atomics stay documented in prose).
#pragma once

#if defined(__clang__)
#define SWITCHYARD_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SWITCHYARD_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) SWITCHYARD_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY SWITCHYARD_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) SWITCHYARD_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) SWITCHYARD_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) SWITCHYARD_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) SWITCHYARD_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) SWITCHYARD_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) SWITCHYARD_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) SWITCHYARD_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) SWITCHYARD_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) SWITCHYARD_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS SWITCHYARD_THREAD_ANNOTATION(no_thread_safety_analysis)
