// src/broker/catalog_records.hpp — the records of the broker's catalog (broker_catalog.cpp:
// which durable destinations, exchanges and bindings a data directory holds), stored in an
// atomic checkpoint file (storage/checkpoint_file.hpp) named `catalog` in the data directory,
// owner kind catalog.
//
// Record (one per declaration, in key order; little-endian)
//
//    0                   4                   8
//    +-------------------+-------------------+
//    |  key length       |  text length      |  0
//    +-------------------+-------------------+
//    |  0 (16 bytes)                          |  8   reserved: written 0, ignored on read
//    +---------------------------------------+
//    |  key bytes, then text bytes            | 24
//    +---------------------------------------+
//
//  key: "<kind>:<name>" (bindings: "binding:" + exchange, target, key, arguments); text: the
//  declaration's `field=value` lines. The reserved bytes keep the layout of the files written
//  before the catalog had a codec of its own (they went through the offset store's encoding,
//  partition and offset 0), so every existing catalog reads unchanged.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/checkpoint_file.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

/// The catalog's declarations: key -> text.
using CatalogEntries = std::map<std::string, std::string, std::less<>>;

namespace catalog_record {
inline constexpr std::size_t kFixedSize = 24;
}  // namespace catalog_record

/// The records of `entries`.
CheckpointRecords encode_catalog(const CatalogEntries& entries);
/// Parses the records of a verified checkpoint (a fuzz target: never reads out of bounds,
/// never throws). Failure: `Errc::corrupt` naming the file and the byte offset.
Result<CatalogEntries> decode_catalog(const CheckpointImage& image);

/// Opens the catalog checkpoint of `data_dir` (creating the directory), its declarations
/// decoded into `entries` (empty when there is none yet). Failures as `CheckpointFile::open`.
Result<CheckpointFile> open_catalog_file(const std::filesystem::path& data_dir,
                                         CatalogEntries& entries);

}  // namespace switchyard::detail
