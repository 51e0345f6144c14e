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
  full,             ///< destination at capacity and its overflow policy says reject
  closed,           ///< destination, consumer or broker is closed or shut down
  timed_out,        ///< a blocking call ran out of time
  out_of_memory,    ///< an allocation failed, nothing was accepted (no message: none is built)
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
  io_error,     ///< the operating system refused a read, write, map or sync
  disk_full,    ///< no space left (ENOSPC / EFBIG) — nothing was accepted
  corrupt,      ///< a checksum, length or magic number did not verify
  locked,       ///< held by another owner: the data directory by another live process, an
                ///< exclusive queue by its declaring handle (RabbitMQ's RESOURCE_LOCKED)
  // Request / reply.
  remote_error,  ///< the responder failed (threw, or returned an error); the message says why
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
};

/// Either a `T` or a `Failure`. Used by every fallible call in the library.
///
/// Test it with `if (result)`, read the value with `*result` / `result->`, or call `value()`,
/// which throws `Error` on failure. `code()` is `Errc::ok` on success.
template <class T>
class Result {
 public:
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
  [[nodiscard]] const std::string& message() const noexcept {
    static const std::string empty;
    return has_value() ? empty : std::get<1>(state_).message;
  }
  [[nodiscard]] const Failure& failure() const { return std::get<1>(state_); }

  T& operator*() & noexcept { return std::get<0>(state_); }
  const T& operator*() const& noexcept { return std::get<0>(state_); }
  T* operator->() noexcept { return &std::get<0>(state_); }
  const T* operator->() const noexcept { return &std::get<0>(state_); }

  /// The value; throws `Error` if this holds a failure.
  T& value() & { throw_if_failed(); return std::get<0>(state_); }
  const T& value() const& { throw_if_failed(); return std::get<0>(state_); }
  T&& value() && { throw_if_failed(); return std::get<0>(std::move(state_)); }

 private:
  void throw_if_failed() const {
    if (!has_value()) throw Error(code(), message());
  }
  std::variant<T, Failure> state_;
};

/// The result of an operation that produces nothing but may fail.
template <>
class Result<void> {
 public:
  Result() noexcept = default;
  Result(Errc code, std::string message = {}) noexcept : failure_{code, std::move(message)} {}
  Result(Failure failure) noexcept : failure_(std::move(failure)) {}

  [[nodiscard]] bool has_value() const noexcept { return failure_.code == Errc::ok; }
  explicit operator bool() const noexcept { return has_value(); }
  [[nodiscard]] Errc code() const noexcept { return failure_.code; }
  [[nodiscard]] const std::string& message() const noexcept { return failure_.message; }
  [[nodiscard]] const Failure& failure() const noexcept { return failure_; }
  void value() const {
    if (!has_value()) throw Error(failure_.code, failure_.message);
  }

 private:
  Failure failure_;
};

using Status = Result<void>;

}  // namespace switchyard
