// Receiving from a temporary consumer: it closes at the end of the statement and takes its
// delivery back, so the ack would be stale_delivery. It must not compile.
// expect: (use of deleted function.*Consumer::receive|call to deleted member function 'receive')
#include <switchyard/switchyard.hpp>

using namespace std::chrono_literals;

int main() {
  switchyard::Broker broker;
  broker.declare_queue("q");
#ifdef SWITCHYARD_MISUSE
  auto one = broker.consumer("q").receive(5ms);
#else
  auto consumer = broker.consumer("q");
  auto one = consumer.receive(5ms);
#endif
  return one ? 0 : 1;
}
