// benchmarks/zmq_peers.cpp — ZeroMQ (libzmq, inproc transport) as the peer of the queue, topic
// and round-trip families: what a user gets from the best-known in-process messaging library.
//
//   queue_send_receive_ack/zmq_pushpull          64-byte messages PUSH → PULL, one at a time
//                                                (ZeroMQ has no ack: receiving is the end)
//   queue_send_receive_ack_batch64/zmq_pushpull  the same, 64 messages sent as one multipart
//                                                message (ZeroMQ's atomic batch) and received
//                                                part by part
//   topic_fanout4/zmq_pubsub                     64-byte records XPUB → 4 SUB; XPUB_NODROP so
//                                                nothing is dropped (a topic keeps its records):
//                                                the publisher retries when a subscriber's pipe
//                                                is at its high-water mark
//   roundtrip_parked/zmq_pair                    8-byte ping PAIR → PAIR, pong back; both sides
//                                                block in zmq_recv (ZeroMQ parks in poll)
#include <zmq.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "families.hpp"
#include "harness.hpp"

namespace switchyard_bench {
namespace {

// Owns a ZeroMQ context and the sockets made from it, closed in reverse order.
class ZmqSession {
 public:
  ZmqSession() : context_(zmq_ctx_new()) {}
  ~ZmqSession() {
    for (auto it = sockets_.rbegin(); it != sockets_.rend(); ++it) zmq_close(*it);
    zmq_ctx_term(context_);
  }
  ZmqSession(const ZmqSession&) = delete;
  ZmqSession& operator=(const ZmqSession&) = delete;

  void* socket(int type) {
    void* s = zmq_socket(context_, type);
    if (s != nullptr) sockets_.push_back(s);
    return s;
  }

 private:
  void* context_;
  std::vector<void*> sockets_;
};

std::string endpoint(const char* family) {
  return std::string("inproc://") + family;
}

bool send_all(void* socket, const void* data, std::size_t size, int flags) {
  return zmq_send(socket, data, size, flags) == static_cast<int>(size);
}

// ------------------------------------------------------------------ PUSH/PULL

void queue_send_receive_ack_zmq(benchmark::State& state, std::size_t batch) {
  ZmqSession zmq;
  void* push = zmq.socket(ZMQ_PUSH);
  void* pull = zmq.socket(ZMQ_PULL);
  const std::string where = endpoint(batch == 1 ? "queue" : "queue_batch");
  if (zmq_bind(pull, where.c_str()) != 0 || zmq_connect(push, where.c_str()) != 0) {
    state.SkipWithError("zmq bind/connect failed");
    return;
  }
  const std::uint64_t messages = kQueueMessages / batch * batch;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  std::atomic<bool> ok{true};
  for (auto _ : state) {
    allocations += run_threads(2, [&](int index) {
      Message64 message;
      if (index == 0) {
        for (std::uint64_t i = 0; i < messages; ++i) {
          message.seq = i;
          const bool last_of_batch = (i + 1) % batch == 0;
          if (!send_all(push, &message, sizeof message, last_of_batch ? 0 : ZMQ_SNDMORE)) {
            ok = false;
            return;
          }
        }
        return;
      }
      for (std::uint64_t i = 0; i < messages; ++i) {
        if (zmq_recv(pull, &message, sizeof message, 0) != sizeof message || message.seq != i) {
          ok = false;
          return;
        }
      }
    });
    items += messages;
    if (!ok) {
      state.SkipWithError("zmq push/pull lost or reordered a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack/zmq_pushpull", queue_send_receive_ack_zmq, 1);
SWITCHYARD_BENCHMARK("queue_send_receive_ack_batch64/zmq_pushpull", queue_send_receive_ack_zmq,
                     kQueueBatch);

// ------------------------------------------------------------------ PUB/SUB fan-out

void topic_fanout_zmq(benchmark::State& state) {
  ZmqSession zmq;
  void* pub = zmq.socket(ZMQ_XPUB);
  const int one = 1;
  const std::string where = endpoint("topic");
  if (zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &one, sizeof one) != 0 ||
      zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &one, sizeof one) != 0 ||
      zmq_bind(pub, where.c_str()) != 0) {
    state.SkipWithError("zmq xpub setup failed");
    return;
  }
  std::array<void*, kFanout> subs{};
  for (auto& sub : subs) {
    sub = zmq.socket(ZMQ_SUB);
    if (zmq_connect(sub, where.c_str()) != 0 || zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0) != 0) {
      state.SkipWithError("zmq sub setup failed");
      return;
    }
  }
  // Wait until every subscription has reached the publisher (ZeroMQ's "slow joiner").
  for (int i = 0; i < kFanout; ++i) {
    std::array<char, 16> subscription{};
    if (zmq_recv(pub, subscription.data(), subscription.size(), 0) < 1) {
      state.SkipWithError("zmq subscription did not arrive");
      return;
    }
  }
  std::uint64_t deliveries = 0;
  std::uint64_t allocations = 0;
  std::atomic<bool> ok{true};
  for (auto _ : state) {
    allocations += run_threads(1 + kFanout, [&](int index) {
      Message64 message;
      if (index == 0) {
        for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
          message.seq = i;
          // XPUB_NODROP: EAGAIN means a subscriber's pipe is full; wait for it.
          retry([&] { return send_all(pub, &message, sizeof message, ZMQ_DONTWAIT); });
        }
        return;
      }
      void* sub = subs[static_cast<std::size_t>(index - 1)];
      for (std::uint64_t i = 0; i < kQueueMessages; ++i) {
        if (zmq_recv(sub, &message, sizeof message, 0) != sizeof message || message.seq != i) {
          ok = false;
          return;
        }
      }
    });
    deliveries += kQueueMessages * kFanout;
    if (!ok) {
      state.SkipWithError("zmq pub/sub lost or reordered a record");
      break;
    }
  }
  report_throughput(state, deliveries, allocations);
}

SWITCHYARD_BENCHMARK("topic_fanout4/zmq_pubsub", topic_fanout_zmq);

// ------------------------------------------------------------------ PAIR round trip

void roundtrip_zmq_pair(benchmark::State& state) {
  ZmqSession zmq;
  void* ping = zmq.socket(ZMQ_PAIR);
  void* pong = zmq.socket(ZMQ_PAIR);
  const std::string where = endpoint("pair");
  if (zmq_bind(pong, where.c_str()) != 0 || zmq_connect(ping, where.c_str()) != 0) {
    state.SkipWithError("zmq pair setup failed");
    return;
  }
  LatencySamples round_trips(kRoundTrips);
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  std::atomic<bool> ok{true};
  for (auto _ : state) {
    allocations += run_threads(2, [&](int index) {
      std::uint64_t value = 0;
      if (index == 0) {
        for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
          const std::int64_t start = now_ns();
          if (!send_all(ping, &i, sizeof i, 0) ||
              zmq_recv(ping, &value, sizeof value, 0) != sizeof value || value != i) {
            ok = false;
            return;
          }
          round_trips.add(now_ns() - start);
        }
        return;
      }
      for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
        if (zmq_recv(pong, &value, sizeof value, 0) != sizeof value ||
            !send_all(pong, &value, sizeof value, 0)) {
          ok = false;
          return;
        }
      }
    });
    items += kRoundTrips;
    if (!ok) {
      state.SkipWithError("zmq pair round trip failed");
      break;
    }
  }
  round_trips.report(state);
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("roundtrip_parked/zmq_pair", roundtrip_zmq_pair)->Iterations(1);

}  // namespace
}  // namespace switchyard_bench
