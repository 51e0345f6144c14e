// benchmarks/durable_switchyard.cpp — switchyard's side of durable_queue_send_receive_ack
// (durable_queue.hpp): a queue declared with the level's Durability on a broker with a data
// directory; Producer::send, Consumer::receive (the lease: visibility_timeout), Delivery::ack.
// At batch every send carries an on_complete, and the iteration waits for all of them (the
// peers' batch levels promise the same sync within the interval, but report nothing).
#include <switchyard/switchyard.hpp>

#include <atomic>
#include <string>

#include "durable_queue.hpp"

namespace switchyard_bench {
namespace {

using namespace std::chrono_literals;

switchyard::Durability durability_of(DurableLevel level) {
  switch (level) {
    case DurableLevel::none:
      return switchyard::Durability::none;
    case DurableLevel::batch:
      return switchyard::Durability::batch;
    case DurableLevel::always:
      return switchyard::Durability::always;
  }
  return switchyard::Durability::none;
}

class SwitchyardStore {
 public:
  SwitchyardStore(const std::filesystem::path& dir, DurableLevel level, std::size_t /*payload*/)
      : level_(level), broker_(switchyard::BrokerOptions{.data_dir = dir}) {
    broker_.declare_queue("jobs", {.capacity = 1u << 20,
                                   .overflow = switchyard::Overflow::block,
                                   .send_timeout = 60s,
                                   .visibility_timeout = std::chrono::nanoseconds(kDurableLeaseNs),
                                   .durability = durability_of(level)});
  }

  [[nodiscard]] std::string error() const { return error_.get(); }

  class Sender {
   public:
    explicit Sender(SwitchyardStore& store) : store_(store), producer_(store.broker_.producer()) {
      if (store.level_ == DurableLevel::batch) {
        options_.on_complete = [&store](const switchyard::Result<switchyard::SendReceipt>& r) {
          if (!r) store.fail(r.message());
          // Release: pairs with finish()'s acquire.
          store.completed_.fetch_add(1, std::memory_order_release);
        };
      }
    }
    bool send(std::span<const std::byte> payload) {
      if (store_.level_ == DurableLevel::batch) {
        store_.sent_.fetch_add(1, std::memory_order_relaxed);
      }
      auto id = producer_.send("jobs", payload, options_);
      if (!id) store_.fail(id.message());
      return static_cast<bool>(id);
    }

   private:
    SwitchyardStore& store_;
    switchyard::Producer producer_;
    switchyard::SendOptions options_;
  };

  class Receiver {
   public:
    explicit Receiver(SwitchyardStore& store)
        : store_(store), consumer_(store.broker_.consumer("jobs")) {}
    std::optional<std::uint64_t> receive_and_ack() {
      auto d = consumer_.receive(1ms);
      if (!d) {
        if (d.code() != switchyard::Errc::timed_out) store_.fail(d.message());
        return std::nullopt;
      }
      const std::uint64_t index = index_of(d->payload().bytes());
      if (auto acked = d->ack(); !acked) {
        store_.fail(acked.message());
        return std::nullopt;
      }
      return index;
    }

   private:
    SwitchyardStore& store_;
    switchyard::Consumer consumer_;
  };

  Sender sender() { return Sender(*this); }
  Receiver receiver() { return Receiver(*this); }

  void finish() {
    if (level_ != DurableLevel::batch) return;
    Backoff backoff;
    // Acquire: pairs with the completions' release; sent_ is final (the senders joined).
    while (completed_.load(std::memory_order_acquire) < sent_.load(std::memory_order_relaxed) &&
           error().empty()) {
      backoff.pause();
    }
  }

 private:
  void fail(std::string message) { error_.note(std::move(message)); }

  DurableLevel level_;
  switchyard::Broker broker_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> completed_{0};
  FirstError error_;
};

[[maybe_unused]] const bool registered = register_durable_queue<SwitchyardStore>("switchyard");

}  // namespace
}  // namespace switchyard_bench
