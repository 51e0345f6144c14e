// The email-notification flow in one process: producers send, a pool of workers "sends the
// email" (some sends fail for a while, some addresses bounce for ever), failed sends are retried,
// and after 3 attempts a message is dead-lettered the RabbitMQ way: through the topic exchange
// `notifications-dlx` with routing key `email.failed`, bound to `email-failed`.
//
//   build/release/examples/email_notifications [messages]
//   build/release/examples/email_notifications [messages] --amqp amqp://guest:guest@host:5672/
//
// In memory (the default) the queue is `email-notifications` (retries with backoff). With
// --amqp (built with switchyard::rabbitmq) the same handler runs against a RabbitMQ server: the
// producers publish to the topic exchange `notifications` with routing key `email.send`, bound
// to the quorum queue `email.send` (x-delivery-limit 3, prefetch 10; RabbitMQ redelivers a
// failed send at once), whose dead letters go to `notifications-dlx` as above. It purges the
// two queues first, so a re-run starts empty. Either way it ends by itself with a summary:
// exit code 0 when every message was delivered or dead-lettered, 1 otherwise, 2 for bad
// arguments.
#include <switchyard/switchyard.hpp>
#ifdef SWITCHYARD_WITH_RABBITMQ
#include <switchyard/rabbitmq.hpp>
#endif

#include <fmt/core.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// The user number in "user<N>@example.com".
unsigned user_number(std::string_view to) {
  unsigned n = 0;
  const std::string_view digits = to.substr(4, to.find('@') - 4);
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return n;
}

// A stand-in mail server: addresses ending in 13 bounce for ever; the first attempt at every
// 7th other address hits a transient error.
void send_email(const switchyard::Delivery& d) {
  const std::string_view to = d.headers().get("to");
  if (to.ends_with("13@example.com")) throw std::runtime_error("550 mailbox unavailable");
  if (user_number(to) % 7 == 0 && d.attempt() == 1) throw std::runtime_error("421 try again later");
}

/// Where the flow runs: the names it sends to and consumes from.
struct Flow {
  std::string where;        // for the summary
  std::string destination;  // where producers send (the queue, or an exchange)
  std::string key;          // the routing key they send with
  std::string queue;        // what the workers consume
  std::string dead;         // where dead letters end up (a queue)
};

/// The flow on the in-memory broker.
Flow declare_in_memory(switchyard::Broker& broker) {
  broker.declare_exchange("notifications-dlx", switchyard::ExchangeType::topic);
  broker.declare_queue("email-failed");
  broker.bind("notifications-dlx", "email-failed", "*.failed");
  broker.declare_queue("email-notifications",
                       {.capacity = 8192,
                        .max_deliveries = 3,
                        .dead_letter = "notifications-dlx",         // x-dead-letter-exchange
                        .dead_letter_routing_key = "email.failed",  // x-dead-letter-routing-key
                        .prefetch = 64,
                        .retry_backoff = {.initial = 1ms, .multiplier = 2.0, .max = 50ms}});
  return {"in memory", "email-notifications", "", "email-notifications", "email-failed"};
}

#ifdef SWITCHYARD_WITH_RABBITMQ
/// The flow on a RabbitMQ server: the same topology as the server's own objects.
Flow declare_on_rabbitmq(switchyard::Broker& broker, std::string_view url) {
  const auto server = switchyard::rabbitmq::parse_url(url);
  auto rabbit = switchyard::rabbitmq::connect(server);
  using switchyard::ExchangeType;
  broker.declare_exchange("notifications", ExchangeType::topic, {.transport = rabbit});
  broker.declare_exchange("notifications-dlx", ExchangeType::topic, {.transport = rabbit});
  broker.declare_queue("email-failed",
                       {.durability = switchyard::Durability::batch, .transport = rabbit});
  broker.bind("notifications-dlx", "email-failed", "*.failed");
  broker.declare_queue("email.send",
                       {.max_deliveries = 3,                 // a quorum queue's x-delivery-limit
                        .dead_letter = "notifications-dlx",  // x-dead-letter-exchange
                        .dead_letter_routing_key = "email.failed",    // x-dead-letter-routing-key
                        .prefetch = 10,                               // basic.qos
                        .durability = switchyard::Durability::batch,  // quorum queues are durable
                        .transport = rabbit});
  broker.bind("notifications", "email.send", "email.send");
  broker.queue("email.send").purge();
  broker.queue("email-failed").purge();
  return {fmt::format("on RabbitMQ at {}:{}, vhost {}", server.host, server.port, server.vhost),
          "notifications", "email.send", "email.send", "email-failed"};
}
#endif

int usage(const char* why) {
  fmt::print(stderr,
             "email_notifications: {}\nusage: email_notifications [messages] [--amqp URL]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<int> count;
  std::optional<std::string> amqp;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--amqp") {
      if (i + 1 == argc) return usage("--amqp needs a URL (amqp://user:password@host:port/vhost)");
      amqp = argv[++i];
    } else if (!count && !arg.starts_with("-")) {
      count = std::atoi(argv[i]);
      if (*count <= 0) return usage("messages must be a positive number");
    } else {
      return usage(fmt::format("unknown argument '{}'", arg).c_str());
    }
  }
#ifndef SWITCHYARD_WITH_RABBITMQ
  if (amqp) return usage("built without switchyard::rabbitmq (librabbitmq-dev): no --amqp");
#endif
  const int messages = count.value_or(amqp ? 10'000 : 100'000);
  const int producers = 2;

  switchyard::Broker broker;
  Flow flow;
  try {
#ifdef SWITCHYARD_WITH_RABBITMQ
    flow = amqp ? declare_on_rabbitmq(broker, *amqp) : declare_in_memory(broker);
#else
    flow = declare_in_memory(broker);
#endif
  } catch (const switchyard::Error& e) {
    fmt::print(stderr, "email_notifications: {}\n", e.what());
    return 1;
  }
  auto dead = broker.queue(flow.dead);

  std::atomic<std::uint64_t> delivered{0}, retried{0}, handler_errors{0};
  std::atomic<std::uint64_t> confirmed{0}, send_failures{0};  // on RabbitMQ
  auto workers = broker.consumer(flow.queue, {.workers = 4});
  const auto start = std::chrono::steady_clock::now();
  workers.run([&](switchyard::Delivery& d) {
    if (d.attempt() > 1) retried.fetch_add(1, std::memory_order_relaxed);
    try {
      send_email(d);  // throws -> nack -> retry -> dead letter after 3 attempts
    } catch (...) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
    // returning normally acks the delivery
    delivered.fetch_add(1, std::memory_order_relaxed);
  });

  std::vector<std::thread> senders;
  for (int p = 0; p < producers; ++p) {
    senders.emplace_back([&, p] {
      auto producer = broker.producer();
      for (int i = p; i < messages; i += producers) {
        const std::string to = fmt::format("user{}@example.com", i);
        switchyard::SendOptions options{.key = flow.key,
                                        .headers = {{"type", "EmailNotification"}, {"to", to}}};
        if (amqp) {
          // On RabbitMQ a send completes when the server confirms it (or refuses it).
          options.on_complete = [&](const switchyard::Result<switchyard::SendReceipt>& r) {
            if (r) {
              confirmed.fetch_add(1, std::memory_order_relaxed);
            } else if (send_failures.fetch_add(1, std::memory_order_relaxed) < 5) {
              fmt::print(stderr, "send failed: {}\n", r.failure().message);
            }
          };
        }
        auto sent = producer.send(flow.destination, fmt::format("Hello user {}!", i), options);
        if (!sent) fmt::print(stderr, "send failed: {}\n", sent.message());
      }
    });
  }
  for (auto& s : senders) s.join();

  // Everything sent is either delivered or dead-lettered (and on RabbitMQ every send is
  // confirmed or refused); wait for that (bounded). The server's depth is a round trip: asked
  // less often.
  const auto total = static_cast<std::uint64_t>(messages);
  const auto limit = std::chrono::steady_clock::now() + 60s;
  auto done = [&] {
    const bool completed = !amqp || confirmed.load() + send_failures.load() >= total;
    return completed && delivered.load() + dead.depth() + send_failures.load() >= total;
  };
  while (!done() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(amqp ? 10ms : 1ms);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  workers.stop();

  // Sent: what the queue accepted; on RabbitMQ, what the server confirmed (the exchange took it).
  const std::uint64_t sent = amqp ? confirmed.load() : broker.queue(flow.queue).stats().enqueued;
  const std::uint64_t dead_lettered = dead.depth();
  const bool ok = done() && send_failures.load() == 0;
  fmt::print("email-notifications demo ({}, {} producers, 4 workers)\n", flow.where, producers);
  fmt::print("  sent           {:>10}\n", sent);
  fmt::print("  delivered      {:>10}\n", delivered.load());
  fmt::print("  retried        {:>10}\n", retried.load());
  fmt::print("  handler errors {:>10}\n", handler_errors.load());
  fmt::print("  dead-lettered  {:>10}   (in {})\n", dead_lettered, flow.dead);
  fmt::print("  send failures  {:>10}\n", send_failures.load());
  fmt::print("  lost           {:>10}\n",
             static_cast<std::int64_t>(sent - delivered.load() - dead_lettered));
  fmt::print("  throughput     {:>10.0f} messages/s ({:.3f} s)\n", messages / seconds, seconds);
  fmt::print("{}\n", ok ? "OK: every message was delivered or dead-lettered"
                        : "FAILED: not every message was delivered or dead-lettered in 60 s");
  broker.shutdown(switchyard::Shutdown::stop);
  return ok ? 0 : 1;
}
