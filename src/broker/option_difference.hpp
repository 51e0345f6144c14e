// broker/option_difference.hpp — the one comparison of a re-declare's options with the first
// declare's, for queues, topics and exchanges alike: it decides whether they differ and names
// the first option that does, with both values, for `Errc::option_mismatch`'s message
// ("max_deliveries=3, asked for 5").
//
// Each options struct's fields are listed once, in option_difference.cpp, under the names a
// user writes in a designated initializer (`retry_backoff.initial`, `retention.bytes`). A
// static_assert there counts each struct's fields, so an option added to a public header and
// not to its list fails to compile instead of being silently ignored by re-declare.
//
// Pure functions of their arguments; called from any thread.
#pragma once

#include <string>

#include "switchyard/exchange.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/topic.hpp"

namespace switchyard::detail {

/// The first option in which `asked` differs from `declared`, as "name=declared, asked for
/// asked"; empty when every option is equal.
std::string option_difference(const QueueOptions& declared, const QueueOptions& asked);
std::string option_difference(const TopicOptions& declared, const TopicOptions& asked);
/// An exchange's type counts as its first option ("type=direct, asked for topic").
std::string option_difference(ExchangeType declared_type, const ExchangeOptions& declared,
                              ExchangeType asked_type, const ExchangeOptions& asked);

}  // namespace switchyard::detail
