// benchmarks/queue_object.cpp — queue_send_receive_ack_object: the queue family with a typed
// C++ object instead of bytes. The producer moves a 64-byte `Message64` in with
// `producer.send(queue, switchyard::object(std::move(m)))` (no encoding, no payload copy: the
// queue owns the object from there); the consumer reads it in place with
// `message().object_if<Message64>()`, checks its sequence number and acks — one at a time, as
// queue_send_receive_ack/switchyard, with the same queue options.
//
//   queue_send_receive_ack_object/switchyard         the typed-object path above.
//   queue_send_receive_ack_object/owned_copy_floor   queue.cpp's owned_copy_floor (64 bytes
//                                                    copied into a pooled block, one at a time),
//                                                    run here again so the ratio is taken in
//                                                    the same family.
// allocs_per_item counts the object's own `new T` (Producer::send(Object<T>) allocates it).
#include <switchyard/switchyard.hpp>

#include <cstdint>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

using namespace std::chrono_literals;

void queue_send_receive_ack_object_switchyard(benchmark::State& state) {
  switchyard::Broker broker;
  broker.declare_queue("bench", {.capacity = kQueueCapacity,
                                 .overflow = switchyard::Overflow::block,
                                 .send_timeout = 60s,
                                 .prefetch = static_cast<std::uint32_t>(kQueueBatch)});
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  for (auto _ : state) {
    auto consumer = broker.consumer("bench");
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        auto producer = broker.producer();
        for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
          Message64 message;
          message.seq = i;
          if (!producer.send("bench", switchyard::object(std::move(message)))) ok = false;
        }
        return;
      }
      for (std::uint64_t expected = 0; expected < kQueueMessages && ok; ++expected) {
        auto d = consumer.receive(10s);
        const Message64* m = d ? d->message().object_if<Message64>() : nullptr;
        if (m == nullptr || m->seq != expected || !d->ack()) ok = false;
      }
    });
    items += kQueueMessages;
    if (!ok) {
      state.SkipWithError("switchyard queue lost, reordered or refused an object");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack_object/switchyard",
                     queue_send_receive_ack_object_switchyard);

}  // namespace
}  // namespace switchyard_bench
