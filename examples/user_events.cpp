// User events two ways:
//  * Redis-style pub/sub: a session tracker subscribes to "user.login", an auditor
//    psubscribes to "user.*"; both are fire-and-forget.
//  * RabbitMQ-style routing: a topic exchange fans "user.#" events out to durable-style work
//    queues (welcome emails for signups only, analytics for everything).
//
//   build/release/examples/user_events
#include <switchyard/switchyard.hpp>

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

int main() {
  switchyard::Broker broker;

  // --- pub/sub ------------------------------------------------------------------------
  std::atomic<int> logins{0};
  std::atomic<int> audited{0};
  auto sessions = broker.subscribe("user.login", [&](const switchyard::Message&) { ++logins; });
  auto auditor = broker.psubscribe("user.*", [&](const switchyard::Message&) { ++audited; });

  // --- routing ------------------------------------------------------------------------
  broker.declare_exchange("user-events", switchyard::ExchangeType::topic);
  broker.declare_queue("welcome-emails");
  broker.declare_queue("analytics");
  broker.bind("user-events", "welcome-emails", "user.signup");
  broker.bind("user-events", "analytics", "user.#");

  auto producer = broker.producer();
  const char* kinds[] = {"user.signup", "user.login", "user.login", "user.logout"};
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    const char* kind = kinds[i % 4];
    const auto payload = fmt::format("{{\"user\": {}}}", i);
    broker.publish(kind, payload);  // ephemeral
    // routed, acknowledged work: a refusal (full, unroutable, ...) is reported only here
    if (auto sent = producer.publish("user-events", kind, payload); !sent) {
      fmt::print(stderr, "publish refused: {}\n", sent.message());
      ++refused;
    }
  }

  auto welcome = broker.consumer("welcome-emails");
  auto welcomes = welcome.receive(10'000, 0s);
  for (auto& d : *welcomes) {
    if (auto acked = d.ack(); !acked) fmt::print(stderr, "ack failed: {}\n", acked.message());
  }

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((logins < 500 || audited < 1000) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  fmt::print("user-events demo\n");
  fmt::print("  pub/sub  user.login subscriber  {:>5} messages (dropped {})\n", logins.load(),
             sessions.stats().dropped);
  fmt::print("  pub/sub  user.* pattern         {:>5} messages (dropped {})\n", audited.load(),
             auditor.stats().dropped);
  fmt::print("  routed   welcome-emails         {:>5} messages\n", welcomes->size());
  fmt::print("  routed   analytics              {:>5} messages waiting\n",
             broker.queue("analytics").depth());
  return refused == 0 && logins == 500 && audited == 1000 && welcomes->size() == 250 ? 0 : 1;
}
