// src/queue/message_move.hpp — redrive: moving a queue's messages to other queues (SQS's message
// move task, Broker::move_messages), and the recovery step that finishes a move a crash cut
// short.
//
// A move, message by message, in runs of `max_per_second` (one run a second of the broker's
// clock):
//   1. the run is extracted from the source (QueueState::extract: ready messages in delivery
//      order that the filter picks; they leave the source's memory, not its journal);
//   2. each goes to its destination through QueueState::accept_moved, whose commit step writes
//      the source's settlement (record_dead_letter: "it left for another queue");
//   3. what a destination refused goes back to the source where it was (QueueState::restore).
// Crash safety between two durable queues: the destination's journal record comes first and
// carries the source's name and journal seq (headers x-moved-from, x-moved-seq); the source's
// settlement is the commit point; consumers of the destination see the message only after it.
// A kill between the two leaves the message unsettled in both journals: the broker's open,
// once every durable queue is declared, settles the source's copy (finish_moves), so the move
// completes — each message ends up in exactly one queue, and the copy that stays is one no
// consumer saw. Message ids never repeat in a data directory, and the source's copy is
// settled only if its record at that seq holds the same id.
//
// Threads: move_messages runs on the caller's thread and blocks only for the pacing (IdleWait,
// by the broker's clock). It holds no lock across steps; the filter runs under the source's
// slow-path lock (QueueState::extract).
#pragma once

#include "queue/queue_state.hpp"
#include "route/registry.hpp"
#include "switchyard/broker.hpp"

namespace switchyard::detail {

/// Broker::move_messages, for the queue `source`. @note threadsafe
Result<MessageMoveResult> move_messages(const Registry& registry,
                                        const std::shared_ptr<QueueState>& source,
                                        const MessageMoveOptions& options) noexcept;

/// Finishes the moves a crash cut short, between the durable queues of `registry`: for each
/// message a queue recovered with x-moved-* headers whose source still holds it unsettled,
/// settles the source's copy. Once, at the broker's open, after the catalog's declares and
/// before any consumer. Returns how many copies were settled.
std::size_t finish_moves(const Registry& registry) noexcept;

}  // namespace switchyard::detail
