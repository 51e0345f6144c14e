// An order service publishes OrderCreated / OrderCancelled events, keyed by order id, to a
// 4-partition topic. An inventory service — a consumer group of two members, each on its own
// thread — reserves and releases stock, dispatching on the event-type header, and commits
// after processing. Events of one order share a partition, so they arrive in order.
#include <switchyard/switchyard.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() {
  switchyard::Broker broker;
  broker.declare_topic("order-events", {.partitions = 4});

  constexpr int kOrders = 1000;
  constexpr int kEvents = kOrders + kOrders / 4;  // every 4th order is cancelled

  std::atomic<int> reserved{0}, released{0}, handled{0}, out_of_order{0};
  std::mutex print_mutex;
  auto inventory_member = [&](int member, switchyard::GroupConsumer inventory) {
    std::vector<bool> open(kOrders, false);  // orders this member has seen created
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (handled.load() < kEvents && std::chrono::steady_clock::now() < give_up) {
      auto batch = inventory.poll(100, 50ms);
      if (!batch) break;  // closed
      for (auto& record : *batch) {
        const int order = std::stoi(std::string(record.key()));
        const auto type = record.headers().get("type");
        if (type == "OrderCreated") {
          reserved.fetch_add(1);
          open[order] = true;
        } else if (type == "OrderCancelled") {
          if (!open[order]) out_of_order.fetch_add(1);  // same key, same partition: never
          released.fetch_add(1);
        }
        handled.fetch_add(1);
      }
      if (!batch->empty()) (void)inventory.commit();  // after processing
    }
    std::lock_guard lock(print_mutex);
    std::printf("inventory member %d owned partitions:", member);
    for (auto p : inventory.assignment()) std::printf(" %u", p);
    std::printf("\n");
  };
  // Both members join before the first event, so partitions are shared out from the start.
  auto join = [&] {
    return broker.group_consumer("order-events", "inventory-service",
                                 {.start = switchyard::Start::earliest});
  };
  std::thread a(inventory_member, 1, join()), b(inventory_member, 2, join());

  auto orders = broker.producer();
  for (int id = 0; id < kOrders; ++id) {
    const std::string key = std::to_string(id);
    orders
        .send("order-events", R"({"sku":"A-42","qty":1})",
              {.key = key, .headers = {{"type", "OrderCreated"}}})
        .value();
    if (id % 4 == 3) {
      orders
          .send("order-events", R"({"reason":"customer"})",
                {.key = key, .headers = {{"type", "OrderCancelled"}}})
          .value();
    }
  }
  a.join();
  b.join();

  const auto stats = broker.topic("order-events").stats();
  const auto group = broker.topic("order-events").group_stats("inventory-service");
  std::printf("published %llu events over %zu partitions\n",
              static_cast<unsigned long long>(stats.appended), stats.partitions.size());
  std::printf("inventory: %d reserved, %d released, %d out of order, group lag %llu\n",
              reserved.load(), released.load(), out_of_order.load(),
              static_cast<unsigned long long>(group ? group->lag : 0));
  const bool ok = handled.load() == kEvents && out_of_order.load() == 0 && group && group->lag == 0;
  return ok ? 0 : 1;
}
