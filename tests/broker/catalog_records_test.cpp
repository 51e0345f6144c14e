#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "broker/catalog_records.hpp"
#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "util/crc32c.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::ScratchDir;

namespace {

// catalog-00000000000000000002.ckpt as the broker wrote it when the catalog was stored through
// OffsetCheckpoint (base 19fca28): every record with partition 0 and offset 0.
const std::vector<std::uint8_t> kWrittenBefore = {
    0x53, 0x57, 0x59, 0x44, 0x43, 0x4b, 0x50, 0x54, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x56, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x25, 0x23, 0x22, 0x84, 0xe4, 0x9c, 0xf2, 0xcb, 0x0a, 0x00, 0x00, 0x00,
    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x65, 0x78, 0x63, 0x68, 0x61, 0x6e, 0x67, 0x65, 0x3a, 0x78,
    0x74, 0x79, 0x70, 0x65, 0x3d, 0x31, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x71, 0x75, 0x65, 0x75, 0x65, 0x3a, 0x6a, 0x6f, 0x62, 0x73, 0x63, 0x61, 0x70, 0x61,
    0x63, 0x69, 0x74, 0x79, 0x3d, 0x38, 0x0a, 0x8d, 0xc4, 0x8d, 0x18,
};

const CatalogEntries kEntries = {{"exchange:x", "type=1\n"}, {"queue:jobs", "capacity=8\n"}};

}  // namespace

TEST_CASE("a catalog written before the catalog had its own codec reads unchanged") {
  const auto file = std::as_bytes(std::span(kWrittenBefore));
  auto image = decode_checkpoint_file(file, "catalog");
  REQUIRE(image);
  CHECK(image->generation == 2);
  CHECK(image->owner.same_as(StorageOwner::catalog()));
  auto entries = decode_catalog(*image);
  REQUIRE(entries);
  CHECK(*entries == kEntries);
}

TEST_CASE("the catalog's records are written byte for byte as before") {
  const auto again = encode_checkpoint_file(encode_catalog(kEntries), 2, StorageOwner::catalog());
  const auto file = std::as_bytes(std::span(kWrittenBefore));
  CHECK(std::equal(again.begin(), again.end(), file.begin(), file.end()));
}

TEST_CASE("catalog declarations survive a reopen of the data directory") {
  ScratchDir dir;
  {
    CatalogEntries none;
    auto catalog = open_catalog_file(dir.path(), none);
    REQUIRE(catalog);
    CHECK(none.empty());
    REQUIRE(catalog->commit(encode_catalog(kEntries)));
  }
  CatalogEntries entries;
  auto catalog = open_catalog_file(dir.path(), entries);
  REQUIRE(catalog);
  CHECK(entries == kEntries);
  CHECK(std::filesystem::exists(dir / "catalog-00000000000000000001.ckpt"));
}

TEST_CASE("a catalog record whose strings run past the body is corrupt - naming the offset") {
  auto records = encode_catalog(kEntries);
  store<std::uint32_t>(records.bytes.data() + 4, 1000);  // the first record's text length
  const auto file = encode_checkpoint_file(records, 1, StorageOwner::catalog());
  auto image = decode_checkpoint_file(file, "catalog");
  REQUIRE(image);  // the framing and CRC are sound: the record is what is wrong
  auto entries = decode_catalog(*image);
  REQUIRE_FALSE(entries);
  CHECK(entries.code() == Errc::corrupt);
  CHECK_THAT(entries.message(), Catch::Contains("catalog: offset 56: entry strings run past"));
}
