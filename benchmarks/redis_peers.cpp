// benchmarks/redis_peers.cpp — Redis beside the pub/sub and queue families (issue 17 §5), through
// hiredis to a redis-server on loopback that this file starts (the first time a Redis benchmark
// runs) and stops by its pid at exit. No persistence (--save "", no AOF): Redis as a cache of
// messages, as the in-memory switchyard sides are.
//
//   pubsub_fanout4/redis_pubsub                  PUBLISH (pipelined, 64 outstanding) of
//                                                kPubsubMessages 64-byte messages to one channel
//                                                with kFanout SUBSCRIBE connections; counts
//                                                deliveries. Output-buffer limits off, so Redis
//                                                drops nothing (as SlowSubscriber::block).
//   queue_send_receive_ack/redis_streams         XADD, then XREADGROUP COUNT 1 and XACK, one
//                                                command and one round trip at a time.
//   queue_send_receive_ack_batch64/redis_streams 64 XADDs pipelined; XREADGROUP COUNT 64 and one
//                                                XACK of the 64 ids.
//
// A missing redis-server (or one that does not answer PING within 5 s) skips the benchmark
// with an error, and benchmarks/compare reports the peer as such.
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>

#include "families.hpp"
#include "harness.hpp"

extern char** environ;

namespace switchyard_bench {
namespace {

using ReplyPtr = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;
using ContextPtr = std::unique_ptr<redisContext, decltype(&redisFree)>;

ReplyPtr wrap(void* reply) {
  return {static_cast<redisReply*>(reply), &freeReplyObject};
}

/// A free TCP port on 127.0.0.1 (bound, read, released; redis-server binds it next).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

/// The redis-server child: started once, stopped (SIGTERM, then waited for) by its pid.
class RedisServer {
 public:
  static RedisServer& instance() {
    static RedisServer server;
    return server;
  }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] ContextPtr connect() const {
    ContextPtr c(redisConnect("127.0.0.1", port_), &redisFree);
    if (c && c->err != 0) c.reset();
    return c;
  }
  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

 private:
  RedisServer() {
    port_ = free_loopback_port();
    if (port_ == 0) {
      error_ = "no free loopback port";
      return;
    }
    const std::string port = std::to_string(port_);
    const std::string dir = bench_dir();
    std::vector<std::string> args = {
        "redis-server", "--port",      port, "--bind",
        "127.0.0.1",    "--save",      "",   "--appendonly",
        "no",           "--daemonize", "no", "--loglevel",
        "warning",      "--dir",       dir,  "--client-output-buffer-limit",
        "pubsub 0 0 0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Its log (warnings about this VM's overcommit setting) would interleave with the table.
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int spawned =
        ::posix_spawnp(&pid_, "redis-server", &quiet, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0) {
      pid_ = 0;
      error_ = "redis-server not found (scripts/bootstrap installs it)";
      return;
    }
    const std::int64_t deadline = now_ns() + 5'000'000'000;
    while (now_ns() < deadline) {
      if (auto c = connect()) {
        auto pong = wrap(redisCommand(c.get(), "PING"));
        if (pong && pong->type == REDIS_REPLY_STATUS) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    error_ = "redis-server did not answer PING on port " + port;
  }

  pid_t pid_ = 0;
  int port_ = 0;
  std::string error_;
};

/// A connection, or an error already reported to `state`.
ContextPtr connect_or_skip(benchmark::State& state) {
  auto& server = RedisServer::instance();
  if (!server.error().empty()) {
    state.SkipWithError(server.error().c_str());
    return {nullptr, &redisFree};
  }
  auto c = server.connect();
  if (!c) state.SkipWithError("cannot connect to redis-server");
  return c;
}

std::uint64_t seq_of(const char* data, std::size_t size) {
  std::uint64_t seq = 0;
  if (size >= sizeof seq) std::memcpy(&seq, data, sizeof seq);
  return seq;
}

// ---------------------------------------------------------------- pubsub_fanout4

void pubsub_fanout_redis(benchmark::State& state) {
  auto publisher = connect_or_skip(state);
  if (!publisher) return;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  int round = 0;
  for (auto _ : state) {
    const std::string channel = "fanout-" + std::to_string(round++);
    std::vector<ContextPtr> subscribers;
    for (int s = 0; s < kFanout; ++s) {
      subscribers.push_back(RedisServer::instance().connect());
      if (!subscribers.back()) ok = false;
    }
    if (!ok) break;
    std::latch subscribed(kFanout);
    allocations += run_threads(1 + kFanout, [&](int index) {
      if (index == 0) {
        subscribed.wait();
        Message64 message;
        constexpr std::uint64_t kWindow = 64;
        for (std::uint64_t i = 0; i < kPubsubMessages; i += kWindow) {
          const std::uint64_t n = std::min(kWindow, kPubsubMessages - i);
          for (std::uint64_t k = 0; k < n; ++k) {
            message.seq = i + k;
            redisAppendCommand(publisher.get(), "PUBLISH %b %b", channel.data(), channel.size(),
                               &message, sizeof message);
          }
          for (std::uint64_t k = 0; k < n; ++k) {
            void* reply = nullptr;
            if (redisGetReply(publisher.get(), &reply) != REDIS_OK) ok = false;
            auto r = wrap(reply);
            if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != kFanout) ok = false;
          }
          if (!ok) return;
        }
        return;
      }
      redisContext* c = subscribers[static_cast<std::size_t>(index - 1)].get();
      auto confirm = wrap(redisCommand(c, "SUBSCRIBE %b", channel.data(), channel.size()));
      subscribed.count_down();
      if (!confirm) {
        ok = false;
        return;
      }
      for (std::uint64_t expected = 0; expected < kPubsubMessages && ok; ++expected) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) {
          ok = false;
          return;
        }
        auto r = wrap(reply);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            seq_of(r->element[2]->str, r->element[2]->len) != expected) {
          ok = false;
        }
      }
    });
    items += kPubsubMessages * kFanout;
    if (!ok) {
      state.SkipWithError("a Redis subscriber lost or reordered a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("pubsub_fanout4/redis_pubsub", pubsub_fanout_redis);

// ---------------------------------------------------------------- queue families

void queue_redis_streams(benchmark::State& state, std::size_t batch) {
  auto admin = connect_or_skip(state);
  if (!admin) return;
  const std::uint64_t total = batch == 1 ? kRedisQueueMessages : 5 * kRedisQueueMessages;
  std::uint64_t items = 0;
  std::uint64_t allocations = 0;
  bool ok = true;
  int round = 0;
  for (auto _ : state) {
    const std::string stream = "jobs-" + std::to_string(round++);
    auto created = wrap(redisCommand(admin.get(), "XGROUP CREATE %b workers $ MKSTREAM",
                                     stream.data(), stream.size()));
    auto producer = RedisServer::instance().connect();
    auto consumer = RedisServer::instance().connect();
    if (!created || created->type == REDIS_REPLY_ERROR || !producer || !consumer) {
      state.SkipWithError("XGROUP CREATE failed");
      return;
    }
    allocations += run_threads(2, [&](int index) {
      if (index == 0) {
        Message64 message;
        for (std::uint64_t i = 0; i < total && ok; i += batch) {
          const std::uint64_t n = std::min<std::uint64_t>(batch, total - i);
          for (std::uint64_t k = 0; k < n; ++k) {
            message.seq = i + k;
            redisAppendCommand(producer.get(), "XADD %b * p %b", stream.data(), stream.size(),
                               &message, sizeof message);
          }
          for (std::uint64_t k = 0; k < n; ++k) {
            void* reply = nullptr;
            if (redisGetReply(producer.get(), &reply) != REDIS_OK) ok = false;
            auto r = wrap(reply);
            if (!r || r->type != REDIS_REPLY_STRING) ok = false;
          }
        }
        return;
      }
      std::vector<std::string> ids;
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      const std::string count = std::to_string(batch);
      for (std::uint64_t expected = 0; expected < total && ok;) {
        auto r = wrap(redisCommand(consumer.get(),
                                   "XREADGROUP GROUP workers c1 COUNT %s BLOCK 1000 STREAMS %b >",
                                   count.c_str(), stream.data(), stream.size()));
        if (!r) {
          ok = false;
          return;
        }
        if (r->type == REDIS_REPLY_NIL) continue;  // BLOCK timed out
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
          ok = false;
          return;
        }
        const redisReply* entries = r->element[0]->element[1];
        ids.assign({"XACK", stream, "workers"});
        for (std::size_t e = 0; e < entries->elements; ++e) {
          const redisReply* entry = entries->element[e];
          const redisReply* fields = entry->element[1];
          if (fields->elements != 2 ||
              seq_of(fields->element[1]->str, fields->element[1]->len) != expected++) {
            ok = false;
          }
          ids.emplace_back(entry->element[0]->str, entry->element[0]->len);
        }
        argv.clear();
        lengths.clear();
        for (const auto& s : ids) {
          argv.push_back(s.data());
          lengths.push_back(s.size());
        }
        auto acked = wrap(redisCommandArgv(consumer.get(), static_cast<int>(argv.size()),
                                           argv.data(), lengths.data()));
        if (!acked || acked->type != REDIS_REPLY_INTEGER ||
            acked->integer != static_cast<long long>(entries->elements)) {
          ok = false;
        }
      }
    });
    auto deleted = wrap(redisCommand(admin.get(), "DEL %b", stream.data(), stream.size()));
    items += total;
    if (!ok || !deleted) {
      state.SkipWithError("a Redis stream lost, reordered or refused a message");
      break;
    }
  }
  report_throughput(state, items, allocations);
}

SWITCHYARD_BENCHMARK("queue_send_receive_ack/redis_streams", queue_redis_streams, 1);
SWITCHYARD_BENCHMARK("queue_send_receive_ack_batch64/redis_streams", queue_redis_streams,
                     kQueueBatch);

}  // namespace
}  // namespace switchyard_bench
