// The broker's catalog: which durable destinations, exchanges and bindings a data directory
// holds, so a restarted broker declares them again.
#include "switchyard/broker.hpp"
#include "switchyard/detail/broker_core.hpp"

namespace switchyard {

void Broker::open_catalog() {}

void Broker::catalog_changed() {}

}  // namespace switchyard
