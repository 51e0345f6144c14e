// Smallest program a user writes: declare, send, receive, ack; and the library it runs against
// is the version its headers say (a shared library from another release would not be).
#include <switchyard/switchyard.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main() {
  using namespace std::chrono_literals;
  const std::string headers = std::to_string(switchyard::kVersionMajor) + "." +
                              std::to_string(switchyard::kVersionMinor) + "." +
                              std::to_string(switchyard::kVersionPatch);
  if (switchyard::library_version() != headers) {
    std::fprintf(stderr, "library %.*s, headers %s\n",
                 static_cast<int>(switchyard::library_version().size()),
                 switchyard::library_version().data(), headers.c_str());
    return 1;
  }
  switchyard::Broker broker;
  broker.declare_queue("jobs");
  auto producer = broker.producer();
  producer.send("jobs", "hello").value();
  auto consumer = broker.consumer("jobs");
  auto delivery = consumer.receive(1s);
  if (!delivery || delivery->payload().as_string() != "hello") return 1;
  return delivery->ack() ? 0 : 1;
}
