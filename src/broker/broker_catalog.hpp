// src/broker/broker_catalog.hpp — the one writer of the broker's catalog (broker_catalog.cpp:
// what it lists and how; its records: catalog_records.hpp).
#pragma once

#include "broker/storage_context.hpp"
#include "route/registry.hpp"

namespace switchyard::detail {

/// Rewrites `storage`'s catalog from what `registry` holds now: every durable queue and topic,
/// every exchange, and the bindings and topic subscriptions between listed destinations. A
/// no-op while the catalog is being loaded (recovery). Throws `Error` when the write fails (the
/// previous catalog stays). @note threadsafe (serialised by the catalog's mutex)
void commit_catalog(StorageContext& storage, const Registry& registry);

}  // namespace switchyard::detail
