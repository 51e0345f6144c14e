// switchyard/interceptor.hpp — hooks on send and receive, for tracing and correlation ids.
#pragma once

#include <string_view>

#include "switchyard/headers.hpp"

namespace switchyard {

class Delivery;

/// Observes (and on send, decorates) every message of a broker. Give them to the broker in
/// `BrokerOptions::interceptors`; they run in that order.
///
/// Interceptors run on the sending and receiving threads, concurrently: implementations must
/// be thread-safe, fast, and must not throw (an exception is caught and ignored) or call back
/// into the broker.
class Interceptor {
 public:
  virtual ~Interceptor() = default;
  /// Before a message to `destination` is built: may add or change headers (e.g. set a
  /// correlation id when none is present).
  virtual void on_send(std::string_view destination, Headers& headers) {
    (void)destination;
    (void)headers;
  }
  /// After a queue delivery is handed to a consumer, before the caller sees it.
  virtual void on_receive(std::string_view queue, const Delivery& delivery) {
    (void)queue;
    (void)delivery;
  }
};

}  // namespace switchyard
