// The email-notification flow in one process: producers send, a pool of workers "sends the
// email" (some sends fail for a while, some addresses bounce for ever), failed sends are retried
// with backoff, and after 3 attempts a message is dead-lettered the RabbitMQ way: through the
// topic exchange `notifications-dlx` with routing key `email.failed`, bound to `email-failed`.
//
//   build/release/examples/email_notifications [messages]
#include <switchyard/switchyard.hpp>

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A stand-in mail server: addresses ending in 13 bounce for ever; every 7th attempt at any
// other address hits a transient error.
void send_email(const switchyard::Delivery& d) {
  const std::string_view to = d.headers().get("to");
  if (to.ends_with("13@example.com")) throw std::runtime_error("550 mailbox unavailable");
  if (d.id() % 7 == 0 && d.attempt() == 1) throw std::runtime_error("421 try again later");
}

}  // namespace

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 100'000;
  const int producers = 2;

  switchyard::Broker broker;
  broker.declare_exchange("notifications-dlx", switchyard::ExchangeType::topic);
  broker.declare_queue("email-failed");
  broker.bind("notifications-dlx", "email-failed", "*.failed");
  auto emails = broker.declare_queue(
      "email-notifications",
      {.capacity = 8192,
       .max_deliveries = 3,
       .dead_letter = "notifications-dlx",  // x-dead-letter-exchange
       .dead_letter_routing_key = "email.failed",  // x-dead-letter-routing-key
       .prefetch = 64,
       .retry_backoff = {.initial = 1ms, .multiplier = 2.0, .max = 50ms}});

  std::atomic<std::uint64_t> delivered{0};
  auto workers = broker.consumer("email-notifications", {.workers = 4});
  const auto start = std::chrono::steady_clock::now();
  workers.run([&](switchyard::Delivery& d) {
    send_email(d);  // throws -> nack -> retry with backoff -> dead letter after 3 attempts
    // returning normally acks the delivery
    delivered.fetch_add(1, std::memory_order_relaxed);
  });

  std::vector<std::thread> senders;
  for (int p = 0; p < producers; ++p) {
    senders.emplace_back([&, p] {
      auto producer = broker.producer();
      for (int i = p; i < messages; i += producers) {
        const std::string to = fmt::format("user{}@example.com", i);
        auto sent = producer.send("email-notifications", fmt::format("Hello user {}!", i),
                                  {.headers = {{"type", "EmailNotification"}, {"to", to}}});
        if (!sent) fmt::print(stderr, "send failed: {}\n", sent.message());
      }
    });
  }
  for (auto& s : senders) s.join();

  // Everything sent is either delivered or dead-lettered; wait for that (bounded).
  const auto limit = std::chrono::steady_clock::now() + 60s;
  auto done = [&] {
    const auto s = emails.stats();
    return s.acked + s.dead_lettered >= static_cast<std::uint64_t>(messages);
  };
  while (!done() && std::chrono::steady_clock::now() < limit) std::this_thread::sleep_for(1ms);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  workers.stop();

  const auto s = emails.stats();
  const auto dead = broker.queue("email-failed").stats();
  fmt::print("email-notifications demo (in memory, {} producers, 4 workers)\n", producers);
  fmt::print("  sent           {:>10}\n", s.enqueued);
  fmt::print("  delivered      {:>10}\n", delivered.load());
  fmt::print("  retried        {:>10}\n", s.redelivered);
  fmt::print("  handler errors {:>10}\n", s.handler_errors);
  fmt::print("  dead-lettered  {:>10}   (email-failed holds {})\n", s.dead_lettered, dead.depth);
  fmt::print("  lost           {:>10}\n", s.enqueued - delivered.load() - s.dead_lettered);
  fmt::print("  throughput     {:>10.0f} messages/s ({:.3f} s)\n", messages / seconds, seconds);
  broker.shutdown(switchyard::Shutdown::stop);
  return done() ? 0 : 1;
}
