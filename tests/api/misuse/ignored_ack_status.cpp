// Dropping an ack's Status: a stale delivery would go unnoticed. It must warn (an error under
// -Werror).
// expect: ignoring return(ed)? value.*nodiscard
#include <switchyard/switchyard.hpp>

int main() {
  switchyard::Broker broker;
  broker.declare_queue("q");
  auto consumer = broker.consumer("q");
  auto one = consumer.receive();
  if (!one) return 0;
#ifdef SWITCHYARD_MISUSE
  one->ack();
  return 0;
#else
  return one->ack() ? 0 : 1;
#endif
}
