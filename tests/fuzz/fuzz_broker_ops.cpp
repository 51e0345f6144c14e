// Fuzz target: random operation sequences against the broker, checked by the reference models
// of tests/model/ (issue 10 §5; the same driver as tests/broker/model_test.cpp). Input: the first
// byte picks the family (in-memory queue or topic by its low bit; durable ones, whose 64 MiB
// segments cost seconds per input under ASan, only when it is 0xFE or 0xFF), the rest are the
// choices of the scenario and of up to 200 operations. A difference between broker and model is a
// crash (the message says which).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "model/queue_model.hpp"
#include "model/topic_model.hpp"

using namespace switchyard::model;

namespace {

template <class Scenario, class Run>
void drive(ByteSource& src, Scenario scenario, Op (*next)(Source&, const Scenario&),
           const std::filesystem::path& dir) {
  std::vector<Op> ops;
  while (!src.exhausted() && ops.size() < 200) ops.push_back(next(src, scenario));
  Run run(scenario, dir);
  if (auto failure = run.run(ops)) {
    std::fprintf(stderr, "model mismatch\n  %s\n  %s\n", scenario.describe().c_str(),
                 failure->c_str());
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t family = data[0];
  ByteSource src(data + 1, size - 1);
  const bool durable = family >= 0xFE;
  std::error_code ec;
  static const std::filesystem::path dir =
      (std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm")
                                                     : std::filesystem::temp_directory_path()) /
      ("switchyard-fuzz-ops-" + std::to_string(::getpid()));
  if (family & 1) {
    drive<TopicScenario, TopicRun>(src, topic_scenario(src, durable), topic_op, dir);
  } else {
    drive<QueueScenario, QueueRun>(src, queue_scenario(src, durable), queue_op, dir);
  }
  return 0;
}
