// Polling a temporary group member: it leaves the group at the end of the statement, so what it
// read can never be committed. It must not compile.
// expect: (use of deleted function.*GroupConsumer::poll|call to deleted member function 'poll')
#include <switchyard/switchyard.hpp>

using namespace std::chrono_literals;

int main() {
  switchyard::Broker broker;
  broker.declare_topic("t");
#ifdef SWITCHYARD_MISUSE
  auto batch = broker.group_consumer("t", "g").poll(10, 5ms);
#else
  auto member = broker.group_consumer("t", "g");
  auto batch = member.poll(10, 5ms);
#endif
  return batch ? 0 : 1;
}
