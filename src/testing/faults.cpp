// SendFaults: the contract is in include/switchyard/testing/faults.hpp.
//
// One mutex over everything: a send to a destination bumps that destination's count, then each
// fault in injection order that matches it may fire (the rule first, then one draw from the
// generator for a fault with a probability, as the Dispatcher draws); the first that fires
// refuses the send. A fault's draw happens for every matching send it could still fire on, so the
// sequence of draws — and thus a seeded run — depends only on the sequence of sends.
#include "switchyard/testing/faults.hpp"

#include <map>
#include <random>
#include <vector>

#include "sync/mutex.hpp"

namespace switchyard::testing {

using detail::Mutex;
using detail::MutexLock;

namespace {
struct ActiveSendFault {
  Fault fault;
  std::uint32_t injected = 0;
};
}  // namespace

struct SendFaults::State {
  explicit State(std::uint64_t seed) : random(seed) {}
  mutable Mutex mutex;
  std::mt19937_64 random GUARDED_BY(mutex);
  std::vector<ActiveSendFault> faults GUARDED_BY(mutex);
  std::map<std::string, std::uint64_t, std::less<>> sends GUARDED_BY(mutex);
  std::uint64_t injected GUARDED_BY(mutex) = 0;
};

SendFaults::SendFaults(std::uint64_t seed) : state_(std::make_unique<State>(seed)) {}

SendFaults::~SendFaults() = default;

void SendFaults::inject(Fault fault) {
  if (fault.kind != FaultKind::fail_send) {
    throw Error(Errc::invalid_argument,
                "SendFaults takes fail_send faults; give delivery faults to a Dispatcher");
  }
  if (!(fault.probability >= 0.0 && fault.probability <= 1.0)) {
    throw Error(Errc::invalid_argument, "a fault's probability is between 0 and 1");
  }
  if (fault.error == Errc::ok) {
    throw Error(Errc::invalid_argument, "a fail_send fault needs an error other than ok");
  }
  MutexLock lock(state_->mutex);
  state_->faults.push_back(ActiveSendFault{std::move(fault), 0});
}

std::uint64_t SendFaults::faults_injected() const noexcept {
  MutexLock lock(state_->mutex);
  return state_->injected;
}

Failure SendFaults::refuse_send(std::string_view destination, const Headers& headers) {
  (void)headers;
  State& s = *state_;
  MutexLock lock(s.mutex);
  if (s.faults.empty()) return {};
  auto it = s.sends.find(destination);
  if (it == s.sends.end()) it = s.sends.emplace(std::string(destination), 0).first;
  const std::uint64_t n = ++it->second;
  for (ActiveSendFault& f : s.faults) {
    if (!f.fault.queue.empty() && f.fault.queue != destination) continue;
    if (f.injected >= f.fault.at_most) continue;
    bool hit = f.fault.every != 0 && n % f.fault.every == 0;
    if (!hit && f.fault.probability > 0) {
      hit = std::uniform_real_distribution<double>(0.0, 1.0)(s.random) < f.fault.probability;
    }
    if (!hit) continue;
    ++f.injected;
    ++s.injected;
    return Failure{f.fault.error, "fault injected (testing::SendFaults): send " +
                                      std::to_string(n) + " to '" + std::string(destination) +
                                      "' fails with " + std::string(to_string(f.fault.error))};
  }
  return {};
}

}  // namespace switchyard::testing
