// tools/inspect/pending.hpp — a durable queue's messages as recovery would deliver them.
//
// Not a second reader of the journal: the queue's files are copied into a private temporary
// directory (under $TMPDIR, removed afterwards) and the broker's own recovery —
// `QueueJournal::open` then `recover()`, with the owner check, the torn-tail and
// half-created-segment repairs, the choice of the newest complete settlement generation and
// the snapshot it may write — runs on the copy. The data directory itself is only read.
// Each segment is copied up to its last non-zero byte (the rest stays a hole), so the copy
// costs what the queue holds, not what its segments reserve.
#pragma once

#include <vector>

#include "durable/queue_journal.hpp"
#include "inspect/data_directory.hpp"

namespace switchyard::inspect {

/// What recovery of `queue` finds: its unsettled messages in seq order with their attempt
/// counts, and the repairs it made (on the copy). `salvage` as `BrokerOptions::salvage`.
struct PendingMessages {
  std::vector<detail::RecoveredMessage> messages;
  std::vector<std::string> events;  ///< recovery's event lines, paths as in the data directory
};
Result<PendingMessages> pending_messages(const StoredDestination& queue, bool salvage);

}  // namespace switchyard::inspect
