#include "util/murmur2.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

using switchyard::detail::kafka_partition;
using switchyard::detail::murmur2;

namespace {

std::int32_t java_int(std::uint32_t bits) {
  return static_cast<std::int32_t>(bits);
}

template <std::size_t N>
std::span<const std::byte> bytes_of(const std::array<unsigned char, N>& raw) {
  return std::as_bytes(std::span(raw));
}

}  // namespace

// Kafka's own vectors (clients/.../UtilsTest.testMurmur2), quoted as Java ints.
TEST_CASE("murmur2 reproduces the Java client's published test vectors") {
  CHECK(java_int(murmur2("21")) == -973932308);
  CHECK(java_int(murmur2("foobar")) == -790332482);
  CHECK(java_int(murmur2("a-little-bit-long-string")) == -985981536);
  CHECK(java_int(murmur2("a-little-bit-longer-string")) == -1486304829);
  CHECK(java_int(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")) == -58897971);
  CHECK(java_int(murmur2("abc")) == 479470107);
}

TEST_CASE("murmur2 of a byte span equals murmur2 of the same bytes as text") {
  const std::array<unsigned char, 6> raw{12, 42, 56, 24, 109, 111};
  CHECK(java_int(murmur2(bytes_of(raw))) == 274204207);  // vector quoted by the sarama client
  const std::array<unsigned char, 6> foobar{'f', 'o', 'o', 'b', 'a', 'r'};
  CHECK(murmur2(bytes_of(foobar)) == murmur2("foobar"));
}

// Derived from the published algorithm (Java masks every byte with & 0xff, so a byte >= 0x80
// contributes its unsigned value); the second column is what a port that sign-extends the
// tail bytes would produce, to show the test can tell them apart.
TEST_CASE("murmur2 treats bytes at or above 0x80 as unsigned in the body and in the tail") {
  const std::array<unsigned char, 3> tail_only{0xff, 0xfe, 0xfd};
  CHECK(java_int(murmur2(bytes_of(tail_only))) == 998637092);
  CHECK(java_int(murmur2(bytes_of(tail_only))) != 713921884);  // sign-extended tail
  const std::array<unsigned char, 1> one{0x80};
  CHECK(java_int(murmur2(bytes_of(one))) == 857690492);
  const std::array<unsigned char, 7> mixed{1, 2, 3, 4, 0xf0, 0xf1, 0xf2};
  CHECK(java_int(murmur2(bytes_of(mixed))) == -1886795669);
  CHECK(java_int(murmur2("\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87")) == 2122343024);  // UTF-8 "ключ"
}

TEST_CASE("murmur2 of the empty key is the seed mixed with length zero") {
  CHECK(java_int(murmur2(std::string_view{})) == 275646681);
  CHECK(murmur2(std::span<const std::byte>{}) == murmur2(std::string_view{}));
}

TEST_CASE("murmur2 is usable in constant expressions") {
  static_assert(static_cast<std::int32_t>(murmur2("foobar")) == -790332482);
  static_assert(kafka_partition("prod-A", 6) == 3);
  SUCCEED();
}

TEST_CASE("kafka_partition is the positive murmur2 modulo the partition count") {
  // "foobar" hashes negative: toPositive clears the sign bit (it is not abs()).
  CHECK(kafka_partition("foobar", 16) ==
        (static_cast<std::uint32_t>(-790332482) & 0x7fffffff) % 16);
  CHECK(kafka_partition("foobar", 16) == 14);
  CHECK(kafka_partition("21", 6) == 0);
  CHECK(kafka_partition("abc", 6) == 3);
  CHECK(kafka_partition("a-little-bit-longer-string", 6) == 5);
}

TEST_CASE("kafka_partition places keys where the Java producer puts them") {
  // Placements quoted from kafka-console-producer runs on a 6-partition topic.
  CHECK(kafka_partition("prod-A", 6) == 3);
  CHECK(kafka_partition("prod-B", 6) == 2);
  // Derived from the algorithm for a few common key shapes and partition counts.
  CHECK(kafka_partition("order-101", 12) == 10);
  CHECK(kafka_partition("user-1002", 100) == 97);
  CHECK(kafka_partition("key-3", 12) == 11);
}

TEST_CASE("kafka_partition of the empty key is a fixed partition - not a keyless spread") {
  CHECK(kafka_partition(std::string_view{}, 4) == 1);
  CHECK(kafka_partition(std::string_view{}, 6) == 3);
  CHECK(kafka_partition(std::string_view{}, 100) == 81);
}

TEST_CASE("kafka_partition with one partition is always zero and always in range") {
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    CHECK(kafka_partition(key, 1) == 0);
    for (std::uint32_t n : {2U, 3U, 7U, 64U, 1000U}) REQUIRE(kafka_partition(key, n) < n);
  }
}
