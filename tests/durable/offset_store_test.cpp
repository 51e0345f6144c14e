#include <catch2/catch.hpp>

#include <random>

#include "durable/offset_store.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::ScratchDir;

namespace {

OffsetMap sample(std::uint64_t base) {
  return {{{"inventory", 0}, {base + 10, ""}},
          {{"inventory", 3}, {base + 7, "meta"}},
          {{"billing", 1}, {base, std::string(100, 'm')}},
          {{"", 0}, {0, ""}}};
}

std::filesystem::path newest(const std::filesystem::path& dir) {
  std::filesystem::path best;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".ckpt" && e.path() > best) best = e.path();
  }
  return best;
}

}  // namespace

TEST_CASE("committed offsets round-trip through the checkpoint encoding") {
  const auto offsets = sample(5);
  auto decoded = decode_offset_checkpoint(encode_offset_checkpoint(offsets, 9), "cp");
  REQUIRE(decoded);
  CHECK(decoded->generation == 9);
  CHECK(decoded->offsets == offsets);
}

TEST_CASE(
    "an offsets checkpoint written before the offset store had its own codec reads unchanged") {
  // offsets-00000000000000000003.ckpt of topic "orders", as OffsetCheckpoint wrote it (base
  // 19fca28): the bytes on disk must stay readable, and are still what a commit writes.
  const std::vector<std::uint8_t> written = {
      0x53, 0x57, 0x59, 0x44, 0x43, 0x4b, 0x50, 0x54, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00,
      0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x8b, 0xbe, 0x50, 0x92, 0x5d, 0x12, 0x00,
      0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x62, 0x69, 0x6c, 0x6c,
      0x69, 0x6e, 0x67, 0x6d, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x69, 0x6e, 0x76, 0x65, 0x6e, 0x74, 0x6f, 0x72, 0x79, 0x96, 0x44, 0x12, 0x18,
  };
  const auto file = std::as_bytes(std::span(written));
  const auto owner = StorageOwner::of(OwnerKind::topic, StreamRole::offsets, "orders", 0);
  const OffsetMap offsets = {{{"billing", 1}, {7, "m"}}, {{"inventory", 0}, {42, ""}}};
  auto decoded = decode_offset_checkpoint(file, "offsets");
  REQUIRE(decoded);
  CHECK(decoded->generation == 3);
  CHECK(decoded->owner.same_as(owner));
  CHECK(decoded->offsets == offsets);
  const auto again = encode_offset_checkpoint(offsets, 3, owner);
  CHECK(std::equal(again.begin(), again.end(), file.begin(), file.end()));
}

namespace {

/// Commits `sample(1)` then `sample(2)` and returns the file holding the newer.
std::filesystem::path commit_two_generations(const ScratchDir& dir) {
  {
    auto cp = OffsetStore::open(dir.path());
    REQUIRE(cp);
    REQUIRE(cp->commit(sample(1)));
    REQUIRE(cp->commit(sample(2)));
  }
  return newest(dir.path());
}

}  // namespace

TEST_CASE("a fresh checkpoint directory loads as empty") {
  ScratchDir dir;
  auto cp = OffsetStore::open(dir.path());
  REQUIRE(cp);
  CHECK(cp->offsets().empty());
  CHECK(cp->recovery().generation == 0);
}

TEST_CASE("committed offsets survive a reopen and only two generations are kept") {
  ScratchDir dir;
  {
    auto cp = OffsetStore::open(dir.path());
    REQUIRE(cp);
    for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(cp->commit(sample(i)));
  }
  auto cp = OffsetStore::open(dir.path());
  REQUIRE(cp);
  CHECK(cp->offsets() == sample(4));
  CHECK(cp->generation() == 5);
  CHECK_FALSE(cp->recovery().fell_back);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    files += e.path().extension() == ".ckpt";
  }
  CHECK(files == 2);
}

TEST_CASE("a damaged newest checkpoint falls back to the previous one and says so") {
  ScratchDir dir;
  const auto file = commit_two_generations(dir);
  auto bytes = test::read_all(file);
  bytes[40] ^= std::byte{0x04};
  test::write_all(file, bytes);
  auto cp = OffsetStore::open(dir.path());
  REQUIRE(cp);
  CHECK(cp->offsets() == sample(1));
  CHECK(cp->recovery().fell_back);
  REQUIRE(cp->recovery().damaged.size() == 1);
  CHECK_THAT(cp->recovery().damaged[0], Catch::Contains(file.string()) && Catch::Contains("CRC"));
  // The next commit supersedes the damaged file.
  REQUIRE(cp->commit(sample(3)));
  auto again = OffsetStore::open(dir.path());
  REQUIRE(again);
  CHECK(again->offsets() == sample(3));
  CHECK_FALSE(again->recovery().fell_back);
}

TEST_CASE("a truncated newest checkpoint (torn write) falls back to the previous one") {
  ScratchDir dir;
  const auto file = commit_two_generations(dir);
  std::filesystem::resize_file(file, 20);
  auto cp = OffsetStore::open(dir.path());
  REQUIRE(cp);
  CHECK(cp->offsets() == sample(1));
  CHECK(cp->recovery().fell_back);
}

TEST_CASE("when every checkpoint is damaged opening fails instead of resetting offsets") {
  ScratchDir dir;
  {
    auto cp = OffsetStore::open(dir.path());
    REQUIRE(cp);
    REQUIRE(cp->commit(sample(1)));
  }
  std::filesystem::resize_file(newest(dir.path()), 3);
  auto cp = OffsetStore::open(dir.path());
  REQUIRE_FALSE(cp);
  CHECK(cp.code() == Errc::corrupt);
  CHECK_THAT(cp.message(), Catch::Contains(".ckpt"));
}

TEST_CASE("a failed fsync during commit keeps the previous checkpoint in force") {
  struct FailSync : FaultInjector {
    int on_sync(std::string_view) noexcept override { return EIO; }
  } faults;
  ScratchDir dir;
  {
    auto cp = OffsetStore::open(dir.path());
    REQUIRE(cp);
    REQUIRE(cp->commit(sample(1)));
  }
  {
    auto cp = OffsetStore::open(dir.path(), "offsets", &faults);
    REQUIRE(cp);
    auto status = cp->commit(sample(2));
    CHECK(status.code() == Errc::io_error);
    CHECK(cp->offsets() == sample(1));
  }
  auto cp = OffsetStore::open(dir.path());
  REQUIRE(cp);
  CHECK(cp->offsets() == sample(1));
}

TEST_CASE("every single-bit flip in a checkpoint file is detected") {
  const auto bytes = encode_offset_checkpoint(sample(3), 1);
  std::size_t detected = 0;
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    auto copy = bytes;
    copy[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    detected += !decode_offset_checkpoint(copy, "cp");
  }
  CHECK(detected == bytes.size() * 8);
}
