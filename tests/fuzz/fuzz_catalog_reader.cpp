// Fuzz target: the broker catalog reader (src/broker/broker_catalog.cpp): the parser of each
// entry's `field=value` lines and the re-declare logic fed hostile fields (counts, durations,
// enums, names, dead-letter and alternate chains, bindings). The checkpoint file framing and the
// catalog's record codec are fuzz_checkpoint_reader's; here the catalog is stored by their
// writers, so the Broker's catalog load sees every input.
//
// Input: text, one catalog entry after another, separated by an empty line: the first line is
// the entry's key (`queue:<name>`, `topic:<name>`, `exchange:<name>`, `binding:...`), the rest
// its `field=value` lines. Opening a Broker on the data directory must succeed or throw
// switchyard::Error (a typed error); any other exception or a crash is a bug.
//
// Seeds come from the writer, not from checked-in bytes: with SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>
// the binary declares durable queues (one dead-lettering into another), topics, exchanges and
// bindings on a real Broker, writes the catalog it stored in the input format to <dir> and
// exits (scripts/run-fuzz does this before each run).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "broker/catalog_records.hpp"
#include "fuzz_support.hpp"
#include "switchyard/switchyard.hpp"

using namespace switchyard;
using namespace switchyard::detail;
namespace fs = std::filesystem;
using switchyard::fuzz::check;

namespace {

/// On disk, not tmpfs: each durable queue an input declares fallocates a 64 MiB segment, which
/// tmpfs would take from memory.
const fs::path& scratch() {
  static const fs::path dir =
      fs::temp_directory_path() / ("switchyard-fuzz-catalog-" + std::to_string(::getpid()));
  return dir;
}

/// Writes the catalog the broker stored in `dir` as one seed.
void write_seed(const fs::path& dir, const fs::path& out) {
  CatalogEntries entries;
  auto catalog = open_catalog_file(dir, entries);
  check(static_cast<bool>(catalog));
  std::string text;
  for (const auto& [key, fields] : entries) {
    if (!text.empty()) text += '\n';
    text += key + '\n' + fields;
  }
  std::ofstream(out, std::ios::binary) << text;
}

void write_seeds(const fs::path& out) {
  fs::create_directories(out);
  for (int variant = 0; variant < 3; ++variant) {
    fs::remove_all(scratch());
    {
      Broker broker({.data_dir = scratch()});
      const auto durability = variant == 0 ? Durability::none : Durability::batch;
      broker.declare_queue("dead", {.durability = durability});
      broker.declare_queue("jobs", {.capacity = 1024,
                                    .max_deliveries = 3,
                                    .dead_letter = "dead",
                                    .ttl = std::chrono::seconds(60),
                                    .max_priority = 4,
                                    .durability = durability});
      if (variant > 0) {
        broker.declare_topic(
            "events", {.partitions = 3, .retention = {.bytes = 1 << 20}, .durability = durability});
        broker.declare_exchange("spare", ExchangeType::fanout);
        broker.declare_exchange("orders", ExchangeType::topic, {.alternate = "spare"});
        broker.bind("orders", "jobs", "order.*");
        broker.bind("spare", "dead");
      }
      if (variant == 2) {
        broker.declare_exchange("by-header", ExchangeType::headers);
        broker.bind("by-header", "jobs", {},
                    {.arguments = Headers({{"x-match", "all"}, {"k", "v=1%"}})});
      }
    }
    write_seed(scratch(), out / ("seed-" + std::to_string(variant)));
  }
  fs::remove_all(scratch());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  switchyard::fuzz::write_seeds_if_asked(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CatalogEntries map;
  while (!text.empty()) {
    const std::size_t end = text.find("\n\n");
    const std::string_view entry = text.substr(0, end);
    const std::size_t newline = entry.find('\n');
    const std::string_view key = entry.substr(0, newline);
    const std::string_view fields =
        newline == std::string_view::npos ? std::string_view() : entry.substr(newline + 1);
    map[std::string(key)] = std::string(fields);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 2);
  }
  const fs::path& dir = scratch();
  fs::remove_all(dir);
  // Removed again when this input is done (libFuzzer does not run atexit handlers).
  struct Cleanup {
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(scratch(), ignored);
    }
  } cleanup;
  {
    CatalogEntries none;
    auto catalog = open_catalog_file(dir, none);
    check(static_cast<bool>(catalog));
    check(static_cast<bool>(catalog->commit(encode_catalog(map))));
  }
  try {
    Broker broker({.data_dir = dir});
  } catch (const Error&) {
    // A typed error (corrupt, invalid_argument, ...): what hostile fields must get.
  }
  return 0;
}
