#include <catch2/catch.hpp>

#include <vector>

#include "durable/stored_message.hpp"
#include "storage/segment_format.hpp"
#include "support/storage_support.hpp"
#include "util/crc32c.hpp"

using namespace switchyard;
using namespace switchyard::detail;
using switchyard::test::bytes_of;
using switchyard::test::text_of;

namespace {

// A segment image in memory: header + records, with `zero_tail` bytes of unwritten space.
std::vector<std::byte> make_segment(std::uint64_t base, const std::vector<std::string>& bodies,
                                    std::size_t zero_tail = 64) {
  std::size_t size = segment::kFileHeaderSize + zero_tail;
  for (const auto& b : bodies) size += segment::record_footprint(b.size());
  std::vector<std::byte> file(size);
  write_segment_header(file, {segment::kVersion, base, 123, {}});
  std::size_t pos = segment::kFileHeaderSize;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto body = bytes_of(bodies[i]);
    const auto n = segment::record_footprint(body.size());
    write_record(std::span(file).subspan(pos, n), base + i, 1000 + static_cast<int>(i), body);
    pos += n;
  }
  return file;
}

}  // namespace

TEST_CASE("a segment written record by record scans back record by record") {
  const std::vector<std::string> bodies = {"", "a", "hello world", std::string(1000, 'x'), "end"};
  const auto file = make_segment(500, bodies);
  std::vector<std::string> seen;
  auto scan = scan_segment(file, "mem", {}, [&](const RecordView& r, std::size_t) {
    CHECK(r.offset == 500 + seen.size());
    CHECK(r.timestamp_ns == 1000 + static_cast<std::int64_t>(seen.size()));
    seen.push_back(text_of(r.body));
  });
  REQUIRE(scan);
  CHECK(seen == bodies);
  CHECK(scan->header.base_offset == 500);
  CHECK(scan->records == bodies.size());
  CHECK(scan->next_offset == 505);
  CHECK_FALSE(scan->damaged);
  CHECK(scan->valid_end == file.size() - 64);
}

TEST_CASE("records are 8-byte aligned and their footprint includes the padding") {
  CHECK(segment::record_footprint(0) == 24);
  CHECK(segment::record_footprint(1) == 32);
  CHECK(segment::record_footprint(8) == 32);
  CHECK(segment::record_footprint(9) == 40);
}

TEST_CASE("segment file names carry the base offset in 20 digits") {
  CHECK(segment::file_name(42) == "00000000000000000042.seg");
  std::uint64_t base = 0;
  CHECK(segment::parse_file_name("00000000000000000042.seg", base));
  CHECK(base == 42);
  CHECK_FALSE(segment::parse_file_name("0000000000000000042.seg", base));
  CHECK_FALSE(segment::parse_file_name("0000000000000000004x.seg", base));
  CHECK_FALSE(segment::parse_file_name("00000000000000000042.seg.tmp", base));
}

TEST_CASE("bad magic is a corrupt error naming the file") {
  auto file = make_segment(0, {"x"});
  file[0] = std::byte{'X'};
  auto scan = scan_segment(file, "/data/q/00.seg", {});
  REQUIRE_FALSE(scan);
  CHECK(scan.code() == Errc::corrupt);
  CHECK_THAT(scan.message(), Catch::Contains("/data/q/00.seg") && Catch::Contains("bad magic"));
}

TEST_CASE("an unknown format version is a corrupt error saying which version") {
  auto file = make_segment(0, {"x"});
  store<std::uint16_t>(file.data() + segment::kVersionOffset, 7);
  store<std::uint32_t>(file.data() + segment::kHeaderCrcOffset,
                       crc32c(std::span(file).first(segment::kHeaderCrcOffset)));
  auto scan = scan_segment(file, "seg", {});
  REQUIRE_FALSE(scan);
  CHECK(scan.code() == Errc::corrupt);
  CHECK_THAT(scan.message(), Catch::Contains("version 7"));
}

TEST_CASE("a flipped bit in the file header fails the header CRC") {
  auto file = make_segment(9, {"x"});
  file[segment::kBaseOffsetOffset] ^= std::byte{1};
  auto scan = scan_segment(file, "seg", {});
  REQUIRE_FALSE(scan);
  CHECK_THAT(scan.message(), Catch::Contains("header CRC"));
}

TEST_CASE("a file shorter than its header is corrupt - not a crash") {
  auto file = make_segment(0, {});
  auto scan = scan_segment(std::span(file).first(10), "seg", {});
  REQUIRE_FALSE(scan);
  CHECK(scan.code() == Errc::corrupt);
}

TEST_CASE("a checksum mismatch ends the valid records and names the byte offset") {
  auto file = make_segment(0, {"one", "two", "three"});
  const std::size_t second = segment::kFileHeaderSize + segment::record_footprint(3);
  file[second + segment::kBodyOffset] ^= std::byte{0x10};
  int seen = 0;
  auto scan = scan_segment(file, "seg", {}, [&](const RecordView&, std::size_t) { ++seen; });
  REQUIRE(scan);
  CHECK(seen == 1);
  CHECK(scan->damaged);
  CHECK(scan->damage_at == second);
  CHECK_THAT(scan->damage, Catch::Contains("CRC mismatch"));
  CHECK(scan->valid_record_after_damage);  // "three" is intact: not a torn tail
}

TEST_CASE("a bogus length is damage - not a read past the end") {
  auto file = make_segment(0, {"one", "two"});
  store<std::uint32_t>(file.data() + segment::kFileHeaderSize + segment::kSizeOffset, 0x7FFFFFFF);
  auto scan = scan_segment(file, "seg", {});
  REQUIRE(scan);
  CHECK(scan->records == 0);
  CHECK_THAT(scan->damage, Catch::Contains("runs past the end"));
}

TEST_CASE("an unpublished record (size 0 - body written) at the end is a torn tail") {
  auto file = make_segment(0, {"one", "two"});
  const std::size_t second = segment::kFileHeaderSize + segment::record_footprint(3);
  store<std::uint32_t>(file.data() + second + segment::kSizeOffset, 0);
  auto scan = scan_segment(file, "seg", {});
  REQUIRE(scan);
  CHECK(scan->records == 1);
  CHECK(scan->damaged);
  CHECK_FALSE(scan->valid_record_after_damage);
  CHECK(scan->valid_end == second);
  CHECK(scan->data_end > second);
}

TEST_CASE("a record out of offset sequence is damage") {
  auto file = make_segment(0, {"one"});
  auto other = make_segment(5, {"one"});
  std::copy(other.begin() + segment::kFileHeaderSize, other.end(),
            file.begin() + segment::kFileHeaderSize);
  auto scan = scan_segment(file, "seg", {});
  REQUIRE(scan);
  CHECK(scan->records == 0);
  CHECK_THAT(scan->damage, Catch::Contains("out of sequence"));
}

TEST_CASE("salvage skips a damaged record and resumes at the next valid one - counting the skip") {
  auto file = make_segment(0, {"one", "two", "three", "four"});
  const std::size_t second = segment::kFileHeaderSize + segment::record_footprint(3);
  file[second + segment::kBodyOffset] ^= std::byte{0x10};
  std::vector<std::uint64_t> offsets;
  auto scan = scan_segment(file, "seg", {.salvage = true},
                           [&](const RecordView& r, std::size_t) { offsets.push_back(r.offset); });
  REQUIRE(scan);
  CHECK(offsets == std::vector<std::uint64_t>{0, 2, 3});
  CHECK(scan->skipped_regions == 1);
  CHECK(scan->skipped_bytes == segment::record_footprint(3));
}

TEST_CASE("a stored message round-trips through its record body") {
  StoredMessage m;
  m.id = 77;
  m.timestamp_ns = 1'700'000'000'000'000'000;
  m.priority = 9;
  m.key = "order-17";
  m.group = "customer-4";
  m.headers = {{"type", "OrderPlaced"}, {"", ""}, {"trace", std::string(300, 't')}};
  m.payload = bytes_of("{\"amount\": 12}");
  m.deliver_after_ns = 5;
  m.expires_at_ns = 6;
  std::vector<std::byte> body;
  encode(fields_of(m), body);
  CHECK(body.size() == encoded_size(fields_of(m)));
  auto back = decode_stored_message(body);
  REQUIRE(back);
  CHECK(*back == m);
}

TEST_CASE("an empty stored message round-trips") {
  std::vector<std::byte> body;
  encode(fields_of(StoredMessage{}), body);
  auto back = decode_stored_message(body);
  REQUIRE(back);
  CHECK(*back == StoredMessage{});
}

TEST_CASE("decoding every truncation of a message body fails cleanly") {
  StoredMessage m;
  m.key = "k";
  m.headers = {{"a", "b"}};
  m.payload = bytes_of("payload");
  std::vector<std::byte> body;
  encode(fields_of(m), body);
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto back = decode_stored_message(std::span(body).first(n));
    CHECK_FALSE(back);
    CHECK(back.code() == Errc::corrupt);
  }
}

TEST_CASE("a message body with a length past its end is corrupt") {
  StoredMessage m;
  m.payload = bytes_of("payload");
  std::vector<std::byte> body;
  encode(fields_of(m), body);
  store<std::uint32_t>(body.data() + 44, 0xFFFFFFF0u);
  auto back = decode_stored_message(body);
  REQUIRE_FALSE(back);
  CHECK_THAT(back.message(), Catch::Contains("payload"));
}
