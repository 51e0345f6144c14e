// switchyard/exchange.hpp — routing by key or headers to queues, topics and other exchanges
// (RabbitMQ exchanges; with header filters, SNS-style fan-out to queues).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "switchyard/export.hpp"
#include "switchyard/headers.hpp"

namespace switchyard {

class Transport;

namespace detail {
class Access;
class ExchangeState;
class RemoteExchange;
}  // namespace detail

enum class ExchangeType : std::uint8_t {
  direct,   ///< the routing key equals the binding key
  topic,    ///< AMQP patterns: words split by '.', `*` one word, `#` zero or more words
  fanout,   ///< every binding, whatever the key
  headers,  ///< the binding's header arguments match the message's headers (x-match all/any)
};

/// What happens to a message that no binding matches.
enum class Unroutable : std::uint8_t {
  drop,       ///< dropped and counted in `ExchangeStats::unroutable`
  error,      ///< the send fails with `Errc::unroutable`
  alternate,  ///< sent to `ExchangeOptions::alternate` (RabbitMQ's alternate-exchange)
};

struct ExchangeOptions {
  Unroutable unroutable = Unroutable::drop;
  /// Destination (queue, topic or exchange) for unroutable messages under `Unroutable::alternate`;
  /// must be declared first.
  std::string alternate{};
  /// Where the exchange lives: null, in this process; a transport (`switchyard::rabbitmq::
  /// connect`), on it — publishes go there and it routes them to the queues and exchanges
  /// bound to it there (which must live on the same transport). What the transport cannot
  /// carry is `invalid_argument` at declare.
  std::shared_ptr<Transport> transport{};

  friend bool operator==(const ExchangeOptions&, const ExchangeOptions&) = default;
};

/// Binding arguments.
///  * For a headers exchange: the header values to match, and optionally `x-match` = `all`
///    (default), `any`, `all-with-x` or `any-with-x` — RabbitMQ's binding arguments.
///  * For the other types: an extra filter on the message's headers, with the same rules
///    (SNS subscription filter policies): empty means no filter.
struct BindOptions {
  Headers arguments{};
};

struct ExchangeStats {
  std::string name;
  std::uint64_t routed = 0;      ///< messages that matched at least one binding
  std::uint64_t deliveries = 0;  ///< copies handed to destinations (one message, many copies)
  std::uint64_t unroutable = 0;  ///< messages no binding matched (whatever the policy did)
  std::uint64_t rejected = 0;    ///< copies a destination refused (full, closed)
  std::size_t bindings = 0;
};

/// A handle to a declared exchange. Cheap to copy; thread-safe.
class SWITCHYARD_EXPORT Exchange {
 public:
  Exchange() = default;

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] ExchangeType type() const noexcept;
  [[nodiscard]] ExchangeStats stats() const;
  explicit operator bool() const noexcept { return state_ != nullptr || remote_ != nullptr; }

 private:
  // The library's plumbing, reached only through detail::Access (not installed).
  friend class detail::Access;
  explicit Exchange(std::shared_ptr<detail::ExchangeState> state) noexcept
      : state_(std::move(state)) {}
  explicit Exchange(std::shared_ptr<detail::RemoteExchange> remote) noexcept;

  std::shared_ptr<detail::ExchangeState> state_;
  /// An exchange a transport holds (transport/remote_queue.hpp); then `state_` is null.
  std::shared_ptr<detail::RemoteExchange> remote_;
};

}  // namespace switchyard
