// switchyard/error.hpp — the library's one error vocabulary.
//
// Three kinds of failure, one style each:
//  * misuse at construction or declare time throws `switchyard::Error` (a typed exception that
//    carries an `Errc` and a message naming what was wrong);
//  * the hot path (send, receive, ack) is noexcept and returns `Result<T>`, whose `Errc` tells
//    full / closed / timed out / stale apart without allocating;
//  * fallible I/O returns the same `Result<T>`, with a message naming the file and offset.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "switchyard/export.hpp"

namespace switchyard {

/// Every way an operation can fail. Stable names: they appear in messages and in stats.
enum class Errc : std::uint8_t {
  ok = 0,
  // Outcomes of the hot path: expected under load, never a bug.
  full,           ///< destination at capacity and its overflow policy says reject
  closed,         ///< destination, consumer or broker is closed or shut down
  timed_out,      ///< a blocking call ran out of time
  out_of_memory,  ///< an allocation failed, nothing was accepted (no message: none is built)
  // Misuse: the caller asked for something that cannot be.
  unknown_destination,  ///< no queue, topic or exchange of that name
  option_mismatch,      ///< re-declare with options different from the first declare
  invalid_argument,     ///< an option or argument out of its documented range
  payload_too_large,    ///< payload larger than the destination's `max_payload`
  invalid_delivery,     ///< the delivery is empty (default-constructed or moved from)
  stale_delivery,       ///< already settled, or taken back (visibility timeout, consumer closed)
  unroutable,           ///< an exchange found no binding and its policy says error
  not_owner,            ///< a group member touched a partition it does not own
  out_of_range,         ///< partition or offset outside what exists
  wrong_type,           ///< a typed payload read as a type it does not hold
  in_use,               ///< delete of a destination that still has consumers or bindings
  // Storage faults: fallible I/O.
  io_error,   ///< the operating system refused a read, write, map or sync
  disk_full,  ///< no space left (ENOSPC / EFBIG) — nothing was accepted
  corrupt,    ///< a checksum, length or magic number did not verify
  locked,     ///< held by another owner: the data directory by another live process, an
              ///< exclusive queue by its declaring handle (RabbitMQ's RESOURCE_LOCKED)
  // Request / reply.
  remote_error,  ///< the responder failed (threw, or returned an error); the message says why
  // Remote topics (switchyard/transport.hpp).
  unauthorized,  ///< the cluster refused this client (authentication or an ACL); never retried
};

/// The stable name of an error code ("full", "unknown_destination", ...).
constexpr std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::full: return "full";
    case Errc::closed: return "closed";
    case Errc::timed_out: return "timed_out";
    case Errc::out_of_memory: return "out_of_memory";
    case Errc::unknown_destination: return "unknown_destination";
    case Errc::option_mismatch: return "option_mismatch";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::payload_too_large: return "payload_too_large";
    case Errc::invalid_delivery: return "invalid_delivery";
    case Errc::stale_delivery: return "stale_delivery";
    case Errc::unroutable: return "unroutable";
    case Errc::not_owner: return "not_owner";
    case Errc::out_of_range: return "out_of_range";
    case Errc::wrong_type: return "wrong_type";
    case Errc::in_use: return "in_use";
    case Errc::io_error: return "io_error";
    case Errc::disk_full: return "disk_full";
    case Errc::corrupt: return "corrupt";
    case Errc::locked: return "locked";
    case Errc::remote_error: return "remote_error";
    case Errc::unauthorized:
      return "unauthorized";
  }
  return "unknown";
}

/// The exception thrown for misuse, and by `Result::value()` on a failed result.
class SWITCHYARD_EXPORT Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message)
      : std::runtime_error(std::string(to_string(code)) + ": " + message), code_(code) {}
  [[nodiscard]] Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

/// The failure half of a `Result`: a code, and a message only where one helps (hot-path
/// outcomes such as `full` or `timed_out` carry none, so producing them never allocates).
struct Failure {
  Errc code = Errc::ok;
  std::string message;

  /// `result.error() == Errc::full` reads as it says.
  friend bool operator==(const Failure& failure, Errc code) noexcept {
    return failure.code == code;
  }
};

template <class T>
class Result;

namespace detail {
template <class R>
inline constexpr bool is_result_v = false;
template <class T>
inline constexpr bool is_result_v<Result<T>> = true;
/// The `Failure` an `error()` of a successful result returns (std::expected leaves that
/// undefined; here it is a failure with code `ok`).
inline const Failure& no_failure() noexcept {
  static const Failure none{};
  return none;
}
}  // namespace detail

/// Either a `T` or a `Failure`. Used by every fallible call in the library.
///
/// `[[nodiscard]]` as a type: every function returning a `Result` or `Status` (sends, acks,
/// commits, receives, declares' look-ups) warns when its result is dropped, since a failed
/// send to a misspelled queue is reported nowhere else. To drop one on purpose, say so:
/// `(void)delivery.nack();` with a comment saying why.
///
/// Test it with `if (result)`, read the value with `*result` / `result->`, or call `value()`,
/// which throws `Error` on failure. `code()` is `Errc::ok` on success.
///
/// The vocabulary of `std::expected<T, Failure>`: `has_value()`, `value()`, `error()`,
/// `value_or(v)`, `and_then(f)` (f takes the value, returns a `Result<U>`), `transform(f)`
/// (f takes the value, returns a `U`, the result is a `Result<U>`), `or_else(f)` (f takes the
/// `Failure`, returns a `Result<T>`) and `transform_error(f)` (f takes the `Failure`, returns a
/// `Failure`). Differences from std::expected, all of them on the safe side:
///  * the error type is always `Failure` (`code` + `message`); `result.error() == Errc::full`
///    compares its code; a function may return an `Errc` or a `Failure` where a `Result` is
///    expected (no `std::unexpected` wrapper);
///  * `error()` of a successful result is a `Failure` with code `Errc::ok`, not undefined;
///  * `value()` throws `switchyard::Error` (with the code and message), not
///    `std::bad_expected_access`;
///  * `*result` of a failed result is undefined, as in std::expected.
template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = Failure;

  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit by design
      : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Errc code, std::string message = {}) noexcept
      : state_(std::in_place_index<1>, Failure{code, std::move(message)}) {}
  Result(Failure failure) noexcept : state_(std::in_place_index<1>, std::move(failure)) {}

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] Errc code() const noexcept {
    return has_value() ? Errc::ok : std::get<1>(state_).code;
  }
  [[nodiscard]] const std::string& message() const noexcept { return error().message; }
  /// The failure; a `Failure` with code `ok` on success.
  [[nodiscard]] const Failure& error() const& noexcept {
    return has_value() ? detail::no_failure() : *std::get_if<1>(&state_);
  }
  [[nodiscard]] Failure error() && noexcept {
    return has_value() ? Failure{} : std::move(*std::get_if<1>(&state_));
  }
  /// The same as `error()` (the name this library used before it had `error()`).
  [[nodiscard]] const Failure& failure() const noexcept { return error(); }

  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }

  /// The value; throws `Error` if this holds a failure.
  T& value() & { throw_if_failed(); return std::get<0>(state_); }
  const T& value() const& { throw_if_failed(); return std::get<0>(state_); }
  T&& value() && { throw_if_failed(); return std::get<0>(std::move(state_)); }

  /// The value, or `fallback` converted to `T` on failure.
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(fallback));
  }

  /// `f(value)` — itself a `Result<U>` — on success; this failure, as a `Result<U>`, else.
  template <class F>
  auto and_then(F&& f) & {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  auto and_then(F&& f) const& {
    return and_then_impl(*this, std::forward<F>(f));
  }
  template <class F>
  auto and_then(F&& f) && {
    return and_then_impl(std::move(*this), std::forward<F>(f));
  }

  /// `Result<U>(f(value))` on success (U may be void: a `Status`); this failure, else.
  template <class F>
  auto transform(F&& f) & {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  auto transform(F&& f) const& {
    return transform_impl(*this, std::forward<F>(f));
  }
  template <class F>
  auto transform(F&& f) && {
    return transform_impl(std::move(*this), std::forward<F>(f));
  }

  /// This result on success; `f(failure)` — a `Result<T>` — else (recover, or replace the
  /// failure).
  template <class F>
  Result or_else(F&& f) const& {
    static_assert(
        std::is_same_v<std::remove_cvref_t<std::invoke_result_t<F, const Failure&>>, Result>,
        "or_else: the function must return a Result of the same type");
    if (has_value()) return *this;
    return std::invoke(std::forward<F>(f), error());
  }
  template <class F>
  Result or_else(F&& f) && {
    static_assert(std::is_same_v<std::remove_cvref_t<std::invoke_result_t<F, Failure&&>>, Result>,
                  "or_else: the function must return a Result of the same type");
    if (has_value()) return std::move(*this);
    return std::invoke(std::forward<F>(f), std::move(*this).error());
  }

  /// This result on success; `Result<T>(f(failure))` else (f returns a `Failure`, e.g. with
  /// context added to the message).
  template <class F>
  Result transform_error(F&& f) const& {
    if (has_value()) return *this;
    return Result(Failure(std::invoke(std::forward<F>(f), error())));
  }
  template <class F>
  Result transform_error(F&& f) && {
    if (has_value()) return std::move(*this);
    return Result(Failure(std::invoke(std::forward<F>(f), std::move(*this).error())));
  }

 private:
  template <class Self, class F>
  static auto and_then_impl(Self&& self, F&& f) {
    using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
    static_assert(detail::is_result_v<R>, "and_then: the function must return a Result<U>");
    if (!self.has_value()) return R(std::forward<Self>(self).error());
    return std::invoke(std::forward<F>(f), *std::forward<Self>(self));
  }
  template <class Self, class F>
  static auto transform_impl(Self&& self, F&& f) {
    using U = std::remove_cv_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
    if (!self.has_value()) return Result<U>(std::forward<Self>(self).error());
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), *std::forward<Self>(self));
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), *std::forward<Self>(self)));
    }
  }
  void throw_if_failed() const {
    if (!has_value()) throw Error(code(), message());
  }
  std::variant<T, Failure> state_;
};

/// The result of an operation that produces nothing but may fail (std::expected<void, ...>):
/// the same vocabulary, with functions that take no value (`and_then(f)` calls `f()`).
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;
  using error_type = Failure;

  Result() noexcept = default;
  Result(Errc code, std::string message = {}) noexcept : failure_{code, std::move(message)} {}
  Result(Failure failure) noexcept : failure_(std::move(failure)) {}

  [[nodiscard]] bool has_value() const noexcept { return failure_.code == Errc::ok; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] Errc code() const noexcept { return failure_.code; }
  [[nodiscard]] const std::string& message() const noexcept { return failure_.message; }
  /// The failure; a `Failure` with code `ok` on success.
  [[nodiscard]] const Failure& error() const& noexcept { return failure_; }
  [[nodiscard]] Failure error() && noexcept { return std::move(failure_); }
  /// The same as `error()`.
  [[nodiscard]] const Failure& failure() const noexcept { return failure_; }
  /// Throws `Error` if this holds a failure.
  void value() const {
    if (!has_value()) throw Error(failure_.code, failure_.message);
  }

  /// `f()` — a `Result<U>` — on success; this failure, as a `Result<U>`, else.
  template <class F>
  auto and_then(F&& f) const& {
    using R = std::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::is_result_v<R>, "and_then: the function must return a Result<U>");
    if (!has_value()) return R(failure_);
    return std::invoke(std::forward<F>(f));
  }
  /// `Result<U>(f())` on success (U may be void); this failure, else.
  template <class F>
  auto transform(F&& f) const& {
    using U = std::remove_cv_t<std::invoke_result_t<F>>;
    if (!has_value()) return Result<U>(failure_);
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f));
      return Result<U>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f)));
    }
  }
  /// This status on success; `f(failure)` — a `Status` — else.
  template <class F>
  Result or_else(F&& f) const& {
    static_assert(
        std::is_same_v<std::remove_cvref_t<std::invoke_result_t<F, const Failure&>>, Result>,
        "or_else: the function must return a Status");
    if (has_value()) return *this;
    return std::invoke(std::forward<F>(f), failure_);
  }
  /// This status on success; `Status(f(failure))` else.
  template <class F>
  Result transform_error(F&& f) const& {
    if (has_value()) return *this;
    return Result(Failure(std::invoke(std::forward<F>(f), failure_)));
  }

 private:
  Failure failure_;
};

using Status = Result<void>;

}  // namespace switchyard
