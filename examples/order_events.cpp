// An order service publishes OrderCreated / OrderCancelled events, keyed by order id, to a
// 4-partition topic. An inventory service — a consumer group of two members, each on its own
// thread — reserves and releases stock, dispatching on the event-type header, and commits
// after processing. Events of one order share a partition, so they arrive in order.
//
// Durable mode: `order_events --data-dir DIR` keeps the topic and the group's committed
// offsets in DIR, and processes slowly (1 ms per event) so that it can be killed mid-way:
//   timeout -s KILL 0.4 order_events --data-dir /tmp/orders; order_events --data-dir /tmp/orders
// The second run publishes only the events the first did not, and the inventory group resumes
// exactly from its committed offsets (printed), re-processing only what was processed but not
// yet committed when the kill came (at-least-once).
//
// Kafka mode: `order_events --kafka [BOOTSTRAP]` moves the topic out of the process onto a
// Kafka cluster (librdkafka's in-process mock cluster when no address is given): the same
// handler code, producer and group members, with one declare option changed. The group is
// then a real Kafka consumer group (its members join by rebalance, so one of them may read
// records again that the other read before the rebalance: counted once, below).
#include <switchyard/switchyard.hpp>
#ifdef SWITCHYARD_WITH_KAFKA
#include <switchyard/kafka.hpp>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::string data_dir;
  bool on_kafka = false;
  std::string bootstrap;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--data-dir" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (std::string(argv[i]) == "--kafka") {
      on_kafka = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') bootstrap = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--data-dir DIR | --kafka [BOOTSTRAP]]\n", argv[0]);
      return 2;
    }
  }
  const bool durable = !data_dir.empty();
  std::shared_ptr<switchyard::Transport> transport;  // null: the topic lives in this process
#ifdef SWITCHYARD_WITH_KAFKA
  std::unique_ptr<switchyard::kafka::MockCluster> mock;
  if (on_kafka) {
    if (bootstrap.empty()) {
      mock = std::make_unique<switchyard::kafka::MockCluster>(3);
      mock->create_topic("order-events", 4);
      bootstrap = mock->bootstrap_servers();
    }
    transport =
        switchyard::kafka::connect({.bootstrap_servers = bootstrap,
                                    .properties = {{"consumer.session.timeout.ms", "6000"},
                                                   {"consumer.heartbeat.interval.ms", "500"}}});
    std::printf("order-events lives on kafka at %s\n", bootstrap.c_str());
  }
#else
  if (on_kafka) {
    std::fprintf(stderr, "built without switchyard::kafka (SWITCHYARD_WITH_KAFKA)\n");
    return 2;
  }
#endif
  switchyard::Broker broker(switchyard::BrokerOptions{.data_dir = data_dir});
  broker.declare_topic("order-events", {.partitions = 4,
                                        .durability = durable ? switchyard::Durability::none
                                                              : switchyard::Durability::memory,
                                        .transport = transport});

  constexpr int kOrders = 1000;
  constexpr int kEvents = kOrders + kOrders / 4;  // every 4th order is cancelled
  // Durable mode: what earlier runs already published and the group already committed.
  const auto published_before = broker.topic("order-events").stats().appended;
  std::uint64_t committed_before = 0;
  int remaining = kEvents;

  std::atomic<int> reserved{0}, released{0}, handled{0}, out_of_order{0};
  // Each event once, however often it was read (at-least-once: a rebalance may repeat some).
  std::vector<std::atomic<bool>> processed(2 * kOrders);
  std::atomic<int> distinct{0};
  std::mutex print_mutex;
  auto inventory_member = [&](int member, switchyard::GroupConsumer inventory) {
    std::vector<bool> open(kOrders, false);  // orders this member has seen created
    const auto give_up = std::chrono::steady_clock::now() + (on_kafka ? 60s : 10s);
    while (distinct.load() < remaining && std::chrono::steady_clock::now() < give_up) {
      auto batch = inventory.poll(durable ? 10 : 100, 50ms);
      if (!batch) break;  // closed
      for (auto& record : *batch) {
        const int order = std::stoi(std::string(record.key()));
        const auto type = record.headers().get("type");
        if (type == "OrderCreated") {
          reserved.fetch_add(1);
          open[order] = true;
        } else if (type == "OrderCancelled") {
          // Same key, same partition: never out of order (a resumed run may have processed
          // the creation before the restart, so only a fresh run checks).
          if (!open[order] && committed_before == 0) out_of_order.fetch_add(1);
          released.fetch_add(1);
        }
        handled.fetch_add(1);
        const std::size_t which = 2 * order + (type == "OrderCancelled" ? 1 : 0);
        if (!processed[which].exchange(true)) distinct.fetch_add(1);
        if (durable) std::this_thread::sleep_for(1ms);  // slow work: time to kill it mid-way
      }
      if (!batch->empty()) {  // commit after processing
        // not_owner: a rebalance moved a partition away; its new owner reads from the
        // group's last commit, so those records are processed again, never lost.
        auto committed = inventory.commit();
        if (!committed && committed.code() != switchyard::Errc::not_owner) {
          std::fprintf(stderr, "commit failed: %s\n", committed.message().c_str());
        }
      }
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
  auto member_a = join(), member_b = join();
  if (durable) {
    std::printf("inventory-service resumes from its committed offsets:");
    for (std::uint32_t p = 0; p < 4; ++p) {
      const auto at = member_a.committed(p).value();
      committed_before += at;
      std::printf(" p%u=%llu", p, static_cast<unsigned long long>(at));
    }
    std::printf(" (%llu of %d events already processed; %llu already published)\n",
                static_cast<unsigned long long>(committed_before), kEvents,
                static_cast<unsigned long long>(published_before));
    remaining = kEvents - static_cast<int>(committed_before);
  }
  std::thread a(inventory_member, 1, std::move(member_a)),
      b(inventory_member, 2, std::move(member_b));

  // Publish the events in a fixed order; a resumed run skips those already in the topic.
  auto orders = broker.producer();
  std::uint64_t event = 0;
  auto publish = [&](const std::string& key, const char* payload, const char* type) {
    if (event++ < published_before) return;
    orders.send("order-events", payload, {.key = key, .headers = {{"type", type}}}).value();
  };
  for (int id = 0; id < kOrders; ++id) {
    const std::string key = std::to_string(id);
    publish(key, R"({"sku":"A-42","qty":1})", "OrderCreated");
    if (id % 4 == 3) publish(key, R"({"reason":"customer"})", "OrderCancelled");
  }
  a.join();
  b.join();

  const auto stats = broker.topic("order-events").stats();
  const auto group = broker.topic("order-events").group_stats("inventory-service");
  std::printf("published %llu events over %u partitions\n",
              static_cast<unsigned long long>(stats.appended),
              broker.topic("order-events").partitions());
  std::printf(
      "inventory: %d handled (%d distinct), %d reserved, %d released, %d out of order, "
      "group lag %llu\n",
      handled.load(), distinct.load(), reserved.load(), released.load(), out_of_order.load(),
      static_cast<unsigned long long>(group ? group->lag : 0));
  // A Kafka group's lag is the cluster's: the members committed it (no local group stats).
  const bool lag_ok = on_kafka || (group && group->lag == 0);
  const bool ok = distinct.load() == remaining && out_of_order.load() == 0 && lag_ok;
  return ok ? 0 : 1;
}
