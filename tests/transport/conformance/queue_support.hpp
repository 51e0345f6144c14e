// The transports a queue or an exchange can live on, as the queue and exchange conformance
// suites drive them (tests/transport/conformance/{queue,exchange}_conformance_test.cpp):
//   memory   — a queue of this process (QueueOptions{})
//   durable  — a queue of this process kept under a data directory (Durability::none)
//   rabbitmq — a queue on the private rabbitmq-server of tests/support/rabbitmq_server.hpp,
//              when the build has switchyard::rabbitmq (SWITCHYARD_CONFORMANCE_RABBITMQ); a
//              test case skips loudly (WARN with the server's log) where it cannot start.
// Each names what it cannot carry (`uncarried`: refused with `invalid_argument` at declare)
// and how it differs where both are right (`kExactAttempts`, `kDeathReason`,
// `kMaxDeliveriesReason`, `kBindingFilters`).
#pragma once

#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/storage_support.hpp"
#include "switchyard/switchyard.hpp"
#include "switchyard/transport.hpp"
#ifdef SWITCHYARD_CONFORMANCE_RABBITMQ
#include "support/rabbitmq_server.hpp"
#include "switchyard/rabbitmq.hpp"
#endif

namespace switchyard::test {

using namespace std::chrono_literals;

/// A name no other test case of this process (nor an earlier run on the same server) used.
inline std::string unique(std::string_view what) {
  static int n = 0;
  return fmt::format("{}-{}-{}", what, ::getpid(), ++n);
}

struct MemoryQueues {
  static constexpr std::string_view kName = "memory";
  /// `Delivery::attempt` counts every delivery (RabbitMQ's classic queues know only
  /// "redelivered": attempt 2 for any redelivery).
  static constexpr bool kExactAttempts = true;
  /// The header a dead letter names its reason in.
  static constexpr std::string_view kDeathReason = headers::death_reason;
  /// The reason of a message dead-lettered after `max_deliveries`.
  static constexpr std::string_view kMaxDeliveriesReason = "max_deliveries";
  /// A direct, topic or fanout binding's arguments filter on the message's headers.
  static constexpr bool kBindingFilters = true;
  std::unique_ptr<Broker> broker = std::make_unique<Broker>();
  bool available() const { return true; }
  Queue queue(std::string_view name, QueueOptions o = {}) { return broker->declare_queue(name, o); }
  Exchange exchange(std::string_view name, ExchangeType type, ExchangeOptions o = {}) {
    return broker->declare_exchange(name, type, o);
  }
  /// Options this transport refuses at declare, each with what it is.
  std::vector<std::pair<std::string, QueueOptions>> uncarried() const { return {}; }
};

struct DurableQueues {
  static constexpr std::string_view kName = "durable";
  static constexpr bool kExactAttempts = true;
  static constexpr std::string_view kDeathReason = headers::death_reason;
  static constexpr std::string_view kMaxDeliveriesReason = "max_deliveries";
  static constexpr bool kBindingFilters = true;
  ScratchDir dir;
  std::unique_ptr<Broker> broker = std::make_unique<Broker>(BrokerOptions{.data_dir = dir.path()});
  bool available() const { return true; }
  Queue queue(std::string_view name, QueueOptions o = {}) {
    if (o.durability == Durability::memory) o.durability = Durability::none;
    return broker->declare_queue(name, o);
  }
  Exchange exchange(std::string_view name, ExchangeType type, ExchangeOptions o = {}) {
    return broker->declare_exchange(name, type, o);
  }
  std::vector<std::pair<std::string, QueueOptions>> uncarried() const { return {}; }
};

#ifdef SWITCHYARD_CONFORMANCE_RABBITMQ
/// A connection to the fixture's server, or null (with a loud warning) where it cannot start.
inline std::shared_ptr<Transport> rabbit_or_null() {
  RabbitmqServer& server = RabbitmqServer::shared();
  if (!server.available()) {
    WARN(
        "SKIPPED: rabbitmq-server could not start here, so this RabbitMQ conformance case "
        "did not run: "
        << server.error());
    return nullptr;
  }
  return rabbitmq::connect({.host = server.host(), .port = server.port()});
}

struct RabbitQueues {
  static constexpr std::string_view kName = "rabbitmq";
  static constexpr bool kExactAttempts = false;  // exact on quorum queues (x-delivery-count)
  static constexpr std::string_view kDeathReason = "x-first-death-reason";
  static constexpr std::string_view kMaxDeliveriesReason = "delivery_limit";
  static constexpr bool kBindingFilters = false;  // only a headers exchange reads arguments
  std::shared_ptr<Transport> transport = rabbit_or_null();
  std::unique_ptr<Broker> broker = std::make_unique<Broker>();
  bool available() const { return transport != nullptr; }
  Queue queue(std::string_view name, QueueOptions o = {}) {
    o.transport = transport;
    // max_deliveries is a quorum queue's x-delivery-limit, and quorum queues are durable.
    if (o.max_deliveries != 0 && o.durability == Durability::memory) {
      o.durability = Durability::none;
    }
    return broker->declare_queue(name, o);
  }
  Exchange exchange(std::string_view name, ExchangeType type, ExchangeOptions o = {}) {
    o.transport = transport;
    return broker->declare_exchange(name, type, o);
  }
  std::vector<std::pair<std::string, QueueOptions>> uncarried() const {
    return {{"delay", {.delay = 1s}},
            {"retry_backoff", {.retry_backoff = {.initial = 1s}}},
            {"exclusive", {.exclusive = true}},
            // RabbitMQ's 406: x-dead-letter-routing-key needs x-dead-letter-exchange (a local
            // queue takes it, and has no use for it).
            {"dead_letter_routing_key without dead_letter", {.dead_letter_routing_key = "k"}}};
  }
};
#define SWITCHYARD_QUEUE_TRANSPORTS \
  switchyard::test::MemoryQueues, switchyard::test::DurableQueues, switchyard::test::RabbitQueues
#else
#define SWITCHYARD_QUEUE_TRANSPORTS switchyard::test::MemoryQueues, switchyard::test::DurableQueues
#endif

/// Sends and waits for the send's completion (a remote queue completes when the server
/// confirms): the send's own failure, or the completion's result.
inline Result<SendReceipt> send_settled(Producer& producer, std::string_view destination,
                                        std::string_view payload, SendOptions options = {}) {
  auto promise = std::make_shared<std::promise<Result<SendReceipt>>>();
  auto future = promise->get_future();
  options.on_complete = [promise](const Result<SendReceipt>& r) { promise->set_value(r); };
  auto sent = producer.send(destination, payload, options);
  if (!sent) return sent.failure();
  INFO("the completion of a send to " << destination);
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  return future.get();
}

/// Sends `payload` and requires it accepted (and confirmed).
inline void send_ok(Producer& producer, std::string_view destination, std::string_view payload,
                    SendOptions options = {}) {
  auto r = send_settled(producer, destination, payload, std::move(options));
  INFO("send of '" << payload << "' to " << destination << ": " << r.failure().message);
  REQUIRE(r);
}

/// The next delivery, within 20 s (fails naming why not).
inline Delivery receive(Consumer& consumer) {
  auto delivery = consumer.receive(20s);
  INFO("receive from " << consumer.queue_name() << ": " << delivery.failure().message);
  REQUIRE(delivery);
  return std::move(*delivery);
}

/// Requires that nothing is delivered within `quiet` (a bound, not a wait for a thread).
inline void require_nothing(Consumer& consumer, Duration quiet = 300ms) {
  auto delivery = consumer.receive(quiet);
  INFO("receive from " << consumer.queue_name() << " should have timed out, got "
                       << (delivery ? std::string(delivery->payload().as_string()) : "an error"));
  REQUIRE(!delivery);
  CHECK(delivery.failure().code == Errc::timed_out);
}

/// Waits (bounded) until `queue` holds `n` messages; fails naming the last depth seen.
inline void wait_depth(const Queue& queue, std::size_t n, std::chrono::seconds budget = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::size_t depth = queue.depth();
  while (depth != n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polls the queue's count, bounded by `budget`
    depth = queue.depth();
  }
  INFO("queue " << queue.name() << " held " << depth << " messages, not " << n);
  REQUIRE(depth == n);
}

/// The code `declare` throws with, or `Errc::ok`.
template <class F>
Errc code_of(F&& declare) {
  try {
    declare();
  } catch (const Error& e) {
    INFO(e.what());
    return e.code();
  }
  return Errc::ok;
}

}  // namespace switchyard::test
