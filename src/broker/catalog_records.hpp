// src/broker/catalog_records.hpp — the records of the broker's catalog (broker_catalog.cpp:
// which durable destinations, exchanges and bindings a data directory holds), stored in an
// atomic checkpoint file (storage/checkpoint_file.hpp) named `catalog` in the data directory,
// owner kind catalog.
//
// Record: one CheckpointEntry (its layout: storage/checkpoint_file.hpp) per declaration, in key
// order: name = "<kind>:<name>" (bindings: "binding:" + exchange, target, key, arguments; a
// topic's queue subscriptions: "subscription:" + topic, queue), text =
// the declaration's `field=value` lines; number and value are written 0 and ignored on read (so
// every catalog written before the catalog had a codec of its own, through the offset store's
// encoding with partition and offset 0, reads unchanged).
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

/// The records of `entries`.
CheckpointRecords encode_catalog(const CatalogEntries& entries);
/// Parses the records of a verified checkpoint (a fuzz target: never reads out of bounds,
/// never throws). Failure: `Errc::corrupt` naming the file and the byte offset.
Result<CatalogEntries> decode_catalog(const CheckpointImage& image);

/// A declaration's fields: field -> value.
using CatalogFields = std::map<std::string, std::string, std::less<>>;
/// The fields of a declaration's text: its `field=value` lines, each value %-unescaped (`%XX`,
/// hex); a line without `=` is ignored. Never throws but for memory.
CatalogFields decode_catalog_fields(std::string_view text);

/// Opens the catalog checkpoint of `data_dir` (creating the directory), its declarations
/// decoded into `entries` (empty when there is none yet). Failures as `CheckpointFile::open`.
Result<CheckpointFile> open_catalog_file(const std::filesystem::path& data_dir,
                                         CatalogEntries& entries);

}  // namespace switchyard::detail
