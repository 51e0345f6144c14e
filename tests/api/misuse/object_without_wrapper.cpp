// Sending a C++ object without switchyard::object(...): one static_assert saying what to write.
// expect: (static assertion failed|static_assert failed).*write.*switchyard::object\(std::move
#include <switchyard/switchyard.hpp>

#include <string>

struct Order {
  int id = 0;
  std::string item;
};

int main() {
  switchyard::Broker broker;
  broker.declare_queue("orders");
  auto producer = broker.producer();
#ifdef SWITCHYARD_MISUSE
  auto sent = producer.send("orders", Order{1, "book"});
#else
  auto sent = producer.send("orders", switchyard::object(Order{1, "book"}));
#endif
  return sent ? 0 : 1;
}
