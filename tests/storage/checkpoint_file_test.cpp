#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "storage/checkpoint_file.hpp"
#include "support/storage_support.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::ScratchDir;

namespace {

/// A codec of one record: its bytes are a text; "bad" is a record the owner rejects.
CheckpointRecords text_records(std::string_view text) {
  CheckpointRecords out{1, std::vector<std::byte>(text.size())};
  std::memcpy(out.bytes.data(), text.data(), text.size());
  return out;
}

Result<CheckpointFile> open_text(const std::filesystem::path& dir, std::string& loaded) {
  return CheckpointFile::open(
      dir, "text", nullptr, {}, "text", [&](const CheckpointImage& image) -> Status {
        loaded.assign(reinterpret_cast<const char*>(image.records.data()), image.records.size());
        if (loaded == "bad") {
          return image.corrupt(image.records_at, "a record it rejects");
        }
        return {};
      });
}

}  // namespace

TEST_CASE("a checkpoint whose records its owner rejects falls back to the previous generation") {
  ScratchDir dir;
  {
    std::string loaded;
    auto file = open_text(dir.path(), loaded);
    REQUIRE(file);
    REQUIRE(file->commit(text_records("good")));
    REQUIRE(file->commit(text_records("bad")));  // framed and checksummed like any other
  }
  std::string loaded;
  auto file = open_text(dir.path(), loaded);
  REQUIRE(file);
  CHECK(loaded == "good");
  CHECK(file->generation() == 1);
  CHECK(file->recovery().fell_back);
  REQUIRE(file->recovery().damaged.size() == 1);
  CHECK_THAT(file->recovery().damaged[0],
             Catch::Contains("text-00000000000000000002.ckpt: offset 56: a record it rejects"));
}

TEST_CASE("when the owner rejects every checkpoint opening fails naming what it holds") {
  ScratchDir dir;
  {
    std::string loaded;
    auto file = open_text(dir.path(), loaded);
    REQUIRE(file);
    REQUIRE(file->commit(text_records("bad")));
  }
  std::string loaded;
  auto file = open_text(dir.path(), loaded);
  REQUIRE_FALSE(file);
  CHECK(file.code() == Errc::corrupt);
  CHECK_THAT(file.message(), Catch::StartsWith("no valid text checkpoint: "));
}

TEST_CASE("the framing of a checkpoint file does not depend on what its records hold") {
  const auto bytes = encode_checkpoint_file(text_records("abc"), 7);
  CHECK(bytes.size() == checkpoint::kHeaderSize + 3 + checkpoint::kTrailerSize);
  auto image = decode_checkpoint_file(bytes, "cp");
  REQUIRE(image);
  CHECK(image->generation == 7);
  CHECK(image->record_count == 1);
  CHECK(image->records_at == checkpoint::kHeaderSize);
  CHECK(std::string(reinterpret_cast<const char*>(image->records.data()), 3) == "abc");
}
