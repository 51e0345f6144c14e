// src/broker/recovery.hpp — what the broker says about a durable stream's recovery: its repairs
// on the log (switchyard/log.hpp); the report itself is Broker::recovery_report (recovery.cpp).
#pragma once

#include "route/hooks.hpp"
#include "switchyard/recovery.hpp"

namespace switchyard::detail {

/// Logs (component "recovery") one warning per repair or loss `stream` records, naming file
/// and offset, then one summary line; nothing for a clean reopen or without a log. Called once
/// per stream, when its destination is opened (on the declaring thread).
void log_recovery(const Hooks& hooks, const StreamRecovery& stream) noexcept;

}  // namespace switchyard::detail
