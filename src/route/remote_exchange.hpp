// src/route/remote_exchange.hpp — the seam that lets an exchange's name be "remote": an
// exchange a transport (switchyard/transport.hpp; RabbitMQ: switchyard/rabbitmq.hpp) holds, as
// the registry, producers and the `Exchange` handle see it. As a remote queue
// (queue/remote_queue.hpp): `declare_exchange` with a `transport` opens it; kind
// `remote_exchange`; `Producer::publish` reaches `accept` (the routing key is the send's key)
// and the server routes; `Broker::bind` from it binds on the server, to a queue or exchange on
// the same transport only (the server cannot route into this process).
#pragma once

#include <string_view>

#include "route/destination.hpp"
#include "switchyard/exchange.hpp"
#include "switchyard/transport.hpp"

namespace switchyard::detail {

class RemoteExchange : public Destination {
 public:
  [[nodiscard]] DestinationKind kind() const noexcept final {
    return DestinationKind::remote_exchange;
  }
  [[nodiscard]] virtual const Transport& transport() const noexcept = 0;
  [[nodiscard]] virtual ExchangeType type() const noexcept = 0;
  [[nodiscard]] virtual const ExchangeOptions& options() const noexcept = 0;
  /// Binds `destination` (a remote queue or exchange on the same transport) with `key` and
  /// `options.arguments` on the server (queue.bind / exchange.bind). Throws `Error`:
  /// `invalid_argument` for a destination elsewhere, `io_error`/`timed_out` from the server.
  virtual void bind(const Destination& destination, std::string_view key,
                    const BindOptions& options) = 0;
  /// The reverse (queue.unbind / exchange.unbind); false when this process made no such binding.
  virtual bool unbind(const Destination& destination, std::string_view key) = 0;
  [[nodiscard]] virtual ExchangeStats stats() const = 0;
  [[nodiscard]] virtual RemoteQueueStats remote_stats() const = 0;
  /// `Broker::delete_exchange`: deletes it on the server too (exchange.delete), then closes.
  virtual void remove() = 0;
};

}  // namespace switchyard::detail
