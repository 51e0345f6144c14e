// Smallest program a user writes: declare, send, receive, ack.
#include <switchyard/switchyard.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  switchyard::Broker broker;
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  producer.send("jobs", "hello").value();
  auto consumer = broker.consumer("jobs");
  auto delivery = consumer.receive(1s);
  if (!delivery || delivery->payload().as_string() != "hello") return 1;
  return delivery->ack() ? 0 : 1;
}
