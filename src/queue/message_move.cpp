// Redrive (SQS StartMessageMoveTask) and the recovery of a move cut short. Design and crash
// safety: message_move.hpp.
#include "queue/message_move.hpp"

#include <string>
#include <unordered_set>
#include <vector>

#include "switchyard/detail/deadline.hpp"
#include "sync/event_count.hpp"
#include "sync/idle_wait.hpp"
#include "util/access.hpp"
#include "util/time.hpp"

namespace switchyard::detail {

namespace {

/// The queue called `name` in `registry`, or null (none, or not a queue).
std::shared_ptr<QueueState> queue_named(const Registry& registry, std::string_view name) {
  auto found = registry.find(name);
  if (!found || found->kind() != DestinationKind::queue) return nullptr;
  return std::static_pointer_cast<QueueState>(found);
}

/// Waits until `wake` by `clock` (the pacing of a rate-limited move): the one wait of the
/// broker, parked on an event nobody notifies, so only time ends it.
void wait_until(const Clock& clock, TimePoint wake) noexcept {
  EventCount never;
  for (TimePoint now = clock.now(); now < wake; now = clock.now()) {
    IdleWait::park(
        never, []() noexcept { return false; }, now, wake, clock);
  }
}

/// Moves `entry` (extracted from `source`) into `target`; the failure when refused.
Status move_one(QueueState& source, QueueState& target, const Entry& entry) noexcept {
  try {
    const MessageBody& body = *Access::body(entry.message);
    Headers headers = body.headers();
    const bool both_durable = source.durable() && target.durable();
    if (both_durable) {
      headers = headers.with(headers::moved_from, source.name())
                    .with(headers::moved_seq, std::to_string(entry.seq));
    }
    MessageBody* derived = MessageBody::derive(body, std::move(headers));
    derived->sent_ns = ns(source.clock()->now());  // the destination's TTL counts from now
    Message moved = Access::adopt(derived);
    // The commit point: the source lets go of its copy (a durable source: in its journal).
    auto commit = [&]() -> Status {
      if (QueueJournal* journal = source.journal()) return journal->record_dead_letter(entry.seq);
      return {};
    };
    return target.accept_moved(std::move(moved), commit);
  } catch (...) {
    return Status(Errc::out_of_memory, "no memory to move a message");
  }
}

}  // namespace

Result<MessageMoveResult> move_messages(const Registry& registry,
                                        const std::shared_ptr<QueueState>& source,
                                        const MessageMoveOptions& options) noexcept {
  using R = Result<MessageMoveResult>;
  try {
    std::shared_ptr<QueueState> fixed;  // the one destination, if named
    if (!options.destination.empty()) {
      fixed = queue_named(registry, options.destination);
      if (!fixed) {
        return R(Errc::unknown_destination, "move from queue '" + source->name() +
                                                "': no queue named '" + options.destination + "'");
      }
      if (fixed == source) {
        return R(Errc::invalid_argument,
                 "move from queue '" + source->name() + "': the destination is the source");
      }
    }
    if (source->closed_for_receive()) {
      return R(Errc::closed, "queue '" + source->name() + "' is closed");
    }
    const Clock& clock = *source->clock();
    MessageMoveResult result;
    const std::size_t limit = options.max_messages != 0 ? options.max_messages : source->depth();
    const std::size_t run = options.max_per_second != 0 ? options.max_per_second : limit;
    // What failed is tried once: it goes back to the source and is passed over after that.
    std::unordered_set<const MessageBody*> failed;
    auto pick = [&](const Entry& e) {
      if (failed.contains(Access::body(e.message))) return false;
      return !options.filter || options.filter(e.message);
    };
    const TimePoint started = clock.now();
    std::vector<Entry> taken, back;
    for (std::uint64_t runs = 0; result.moved + result.failed < limit; ++runs) {
      if (runs != 0) {
        wait_until(
            clock,
            TimePoint(Duration(saturating_add(ns(started), std::int64_t(runs) * 1'000'000'000))));
      }
      taken.clear();
      back.clear();
      source->extract(pick, std::min<std::size_t>(run, limit - (result.moved + result.failed)),
                      taken);
      if (taken.empty()) break;
      for (Entry& entry : taken) {
        std::shared_ptr<QueueState> target = fixed;
        Status outcome;
        if (!target) {
          const std::string_view home =
              Access::body(entry.message)->headers().get(headers::death_queue);
          target = home.empty() ? nullptr : queue_named(registry, home);
          if (!target || target == source) {
            outcome = Status(Errc::unknown_destination,
                             home.empty() ? "message " + std::to_string(entry.message.id()) +
                                                " has no x-death-queue to go back to"
                                          : "message " + std::to_string(entry.message.id()) +
                                                ": its source queue '" + std::string(home) +
                                                "' is not declared");
          }
        }
        if (target) outcome = move_one(*source, *target, entry);
        if (outcome) {
          ++result.moved;
          continue;
        }
        if (result.failed++ == 0) result.first_failure = outcome.message();
        failed.insert(Access::body(entry.message));
        back.push_back(std::move(entry));
      }
      source->restore(back);
    }
    return result;
  } catch (const std::bad_alloc&) {
    return R(Errc::out_of_memory, "no memory to move messages");
  }
}

std::size_t finish_moves(const Registry& registry) noexcept {
  std::size_t settled = 0;
  try {
    for (const auto& d : registry.all()) {
      if (d->kind() != DestinationKind::queue) continue;
      auto& target = static_cast<QueueState&>(*d);
      for (const QueueState::MovedIn& in : target.take_moved_in()) {
        auto source = queue_named(registry, in.source);
        if (source && source->durable() && source->forget(in.seq, in.id)) ++settled;
      }
    }
  } catch (...) {
    // Out of memory listing the queues: the copies left stay (at-least-once), none is lost.
  }
  return settled;
}

}  // namespace switchyard::detail
