// Dropping a send's Result: a send to a misspelled queue would fail silently. It must warn
// (an error under -Werror).
// expect: ignoring return(ed)? value.*nodiscard
#include <switchyard/switchyard.hpp>

int main() {
  switchyard::Broker broker;
  broker.declare_queue("orders");
  auto producer = broker.producer();
#ifdef SWITCHYARD_MISUSE
  producer.send("ordres", "x");
  return 0;
#else
  auto sent = producer.send("ordres", "x");
  return sent.error() == switchyard::Errc::unknown_destination ? 0 : 1;
#endif
}
