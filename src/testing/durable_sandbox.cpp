// DurableSandbox: the contract is in include/switchyard/testing/durable_sandbox.hpp.
#include "switchyard/testing/durable_sandbox.hpp"

#include <random>
#include <string>
#include <system_error>
#include <utility>

#include "switchyard/error.hpp"

namespace switchyard::testing {

namespace {
/// A new, empty directory under the system's temporary one.
std::filesystem::path make_scratch_dir() {
  const std::filesystem::path root = std::filesystem::temp_directory_path();
  std::random_device entropy;
  for (int tries = 0; tries < 100; ++tries) {
    const auto name = "switchyard-sandbox-" + std::to_string(entropy()) + std::to_string(entropy());
    std::filesystem::path dir = root / name;
    // create_directory is false when it exists: another sandbox's, try another name.
    if (std::filesystem::create_directory(dir)) return dir;
  }
  throw Error(Errc::io_error, "no free name for a sandbox directory under " + root.string());
}
}  // namespace

DurableSandbox::DurableSandbox() : DurableSandbox(Options{}) {}

DurableSandbox::DurableSandbox(Options options) : options_(std::move(options)) {
  if (options_.broker.data_dir.empty()) {
    options_.broker.data_dir = make_scratch_dir();
    made_dir_ = true;
  }
  try {
    broker_ = std::make_unique<Broker>(options_.broker);
  } catch (...) {
    if (made_dir_) {
      std::error_code ignored;
      std::filesystem::remove_all(options_.broker.data_dir, ignored);
    }
    throw;
  }
}

DurableSandbox::~DurableSandbox() {
  broker_.reset();  // releases the directory's lock and files before they are removed
  if (made_dir_) {
    std::error_code ignored;  // a destructor does not throw; a leftover temp dir is harmless
    std::filesystem::remove_all(options_.broker.data_dir, ignored);
  }
}

Broker& DurableSandbox::broker() {
  if (!broker_) throw Error(Errc::closed, "the sandbox's last restart failed: no broker");
  return *broker_;
}

Broker& DurableSandbox::restart() {
  broker_.reset();  // first: the new broker takes the directory's lock
  broker_ = std::make_unique<Broker>(options_.broker);
  ++restarts_;
  return *broker_;
}

}  // namespace switchyard::testing
