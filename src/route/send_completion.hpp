// src/route/send_completion.hpp — how a send's outcome reaches `SendOptions::on_complete`,
// exactly once.
//
// Who reports:
//   * the caller of `Destination::accept` (the producer: `report_send`) reports every failure,
//     and every success of a destination that does not `defers_completion()`;
//   * a destination that does (a durable queue or topic at `Durability::batch`: a send is
//     complete once its record is synced) reports each of its successes itself — later,
//     through a `DeferredCompletion`, or at once (`report_now`, a deduplicated send) — and
//     never a failure;
//   * a destination that passes a send on (an exchange to its bindings, a topic to its
//     subscribed queues) passes it `without_completion`: a send is reported once, for the
//     destination it was addressed to, however many it reached.
#pragma once

#include <atomic>
#include <optional>
#include <utility>

#include "route/destination.hpp"
#include "switchyard/durability.hpp"
#include "switchyard/error.hpp"
#include "switchyard/send_options.hpp"

namespace switchyard::detail {

/// What a send has reached when `accept` returns at a destination of level `d`: as
/// `persisted_by`, but at `batch` the sync comes later (the deferred report says `synced`).
constexpr Persisted persisted_on_return(Durability d) noexcept {
  return d == Durability::batch ? Persisted::written : persisted_by(d);
}

/// Reports `receipt` to `options.on_complete` unless `target` (null: the send found no
/// destination) reports it itself (see the file comment). On the caller's thread.
inline void report_send(const Destination* target, const SendOptions& options,
                        const Result<SendReceipt>& receipt) noexcept {
  if (!options.on_complete) return;
  if (receipt && target != nullptr && target->defers_completion()) return;
  options.on_complete(receipt);
}

/// A deferring destination's report of a success it knows at once. On the caller's thread.
inline void report_now(const SendOptions& options, const SendReceipt& receipt) noexcept {
  if (options.on_complete) options.on_complete(Result<SendReceipt>(receipt));
}

/// `options` for passing a send on to other destinations: without `on_complete` (see the file
/// comment). Copies only when there is one to drop, into `spare`; null when that copy ran out
/// of memory.
[[nodiscard]] inline const SendOptions* without_completion(
    const SendOptions& options, std::optional<SendOptions>& spare) noexcept {
  if (!options.on_complete) return &options;
  try {
    spare.emplace(options);
  } catch (...) {
    return nullptr;
  }
  spare->on_complete = nullptr;
  return &*spare;
}

/// The deferred report of one send: a rendezvous of two arrivals, whichever comes second
/// calling `on_complete` and freeing this. The destination arrives once its append returned
/// (`accepted`, with what its accept returns: the receipt carries the offset); the log arrives
/// when the record is synced (`on_synced`, on the flusher's thread — possibly first). A
/// success is reported as `Persisted::synced`, a failed sync with its error; a send the
/// destination refused after its append is not reported here (the caller reports it).
/// Owned by the two arrivals, not a shared_ptr: the log's completion captures one pointer,
/// which std::function stores without a heap allocation.
class DeferredCompletion {
 public:
  /// A report for `options.on_complete`; null when there is none. Throws std::bad_alloc.
  [[nodiscard]] static DeferredCompletion* create(const SendOptions& options) {
    if (!options.on_complete) return nullptr;
    return new DeferredCompletion(options.on_complete);
  }
  DeferredCompletion(const DeferredCompletion&) = delete;
  DeferredCompletion& operator=(const DeferredCompletion&) = delete;

  /// The log's arrival, as the append's completion (it fires once iff the append succeeded).
  [[nodiscard]] auto on_synced() noexcept {
    return [this](Status status) {
      sync_ = std::move(status);
      arrive();
    };
  }
  /// The destination's arrival, after the append returned an offset. @note once
  void accepted(const Result<SendReceipt>& outcome) noexcept {
    if (outcome) {
      receipt_ = *outcome;
    } else {
      refused_ = true;
    }
    arrive();
  }
  /// The append failed: the log never arrives. Frees this, reporting nothing.
  void cancel() noexcept { delete this; }

 private:
  explicit DeferredCompletion(std::function<void(const Result<SendReceipt>&)> on_complete)
      : on_complete_(std::move(on_complete)) {}

  void arrive() noexcept {
    // acq_rel: the second arrival sees what the first wrote (receipt_ / refused_, or sync_).
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) != 1) return;
    if (!refused_) {
      if (sync_) {
        receipt_.persisted = Persisted::synced;
        on_complete_(Result<SendReceipt>(receipt_));
      } else {
        on_complete_(Result<SendReceipt>(sync_.failure()));
      }
    }
    delete this;
  }

  std::function<void(const Result<SendReceipt>&)> on_complete_;
  SendReceipt receipt_;
  bool refused_ = false;
  Status sync_;
  std::atomic<int> arrived_{0};
};

}  // namespace switchyard::detail
