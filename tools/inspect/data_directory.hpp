// tools/inspect/data_directory.hpp — a broker's data directory as its catalog describes it:
// which durable queues and topics it holds (by their real names, not their %-escaped directory
// names), where each one's files are, and each topic's committed group offsets.
//
// Read-only: the catalog and the offsets are loaded by the broker's own loaders
// (`open_catalog_file`, `OffsetStore::open_topic`: newest valid generation, falling back to the
// previous one), which write nothing to a directory that exists; a missing directory is never
// passed to them (they would create it). No lock is taken.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/catalog_records.hpp"
#include "durable/offset_store.hpp"
#include "route/destination.hpp"
#include "switchyard/error.hpp"

namespace switchyard::inspect {

namespace fs = std::filesystem;

/// One declaration of the catalog.
struct Declaration {
  std::string key;   ///< the catalog's key: "<kind>:<name>", "binding:..."
  std::string kind;  ///< "queue", "topic", "exchange", "binding"
  std::string name;  ///< the destination's name (empty for a binding)
  detail::CatalogFields fields;
};

/// A durable queue or topic of the catalog, with where its files are.
struct StoredDestination {
  detail::DestinationKind kind = detail::DestinationKind::queue;
  std::string name;
  fs::path dir;                  ///< its storage directory (StorageContext::storage_dir)
  std::uint32_t partitions = 1;  ///< topics: the declared partition count; queues: 1
  std::string durability;        ///< "none", "batch", "always"
  /// The directory of one stream: a queue's messages (partition 0), a topic partition's log.
  [[nodiscard]] fs::path stream_dir(std::uint32_t partition) const;
};

/// What loading the catalog found.
struct CatalogState {
  std::uint64_t generation = 0;      ///< 0: the directory has no catalog
  std::vector<std::string> damaged;  ///< newer generations that failed to verify (fell back)
  std::vector<Declaration> declarations;
};

class DataDirectory {
 public:
  /// Loads the catalog of `root`. Errors: not a directory (`io_error`), a catalog none of
  /// whose generations verifies (`corrupt`).
  static Result<DataDirectory> open(const fs::path& root);

  [[nodiscard]] const fs::path& root() const noexcept { return root_; }
  [[nodiscard]] const CatalogState& catalog() const noexcept { return catalog_; }
  /// The durable queues and topics, by kind then name.
  [[nodiscard]] const std::vector<StoredDestination>& destinations() const noexcept {
    return destinations_;
  }
  /// The destination named `name` (of `kind`, if given); `unknown_destination` naming what exists.
  [[nodiscard]] Result<const StoredDestination*> find(
      std::string_view name, std::optional<detail::DestinationKind> kind = {}) const;

  /// The committed offsets of `topic` (empty when it has none); `corrupt` when no generation
  /// verifies. `damaged` gets the newer generations skipped.
  static Result<detail::OffsetMap> offsets(const StoredDestination& topic,
                                           std::vector<std::string>* damaged = nullptr);

 private:
  fs::path root_;
  CatalogState catalog_;
  std::vector<StoredDestination> destinations_;
};

/// A path for output: relative to `root` when it lies inside it.
std::string shown_path(const fs::path& path, const fs::path& root);

}  // namespace switchyard::inspect
