#include <catch2/catch.hpp>

#include <array>
#include <random>
#include <vector>

#include "support/storage_support.hpp"
#include "util/crc32c.hpp"

using switchyard::detail::crc32c;
using switchyard::detail::crc32c_portable;
using switchyard::test::bytes_of;

TEST_CASE("crc32c of \"123456789\" is the published check value 0xE3069283") {
  CHECK(crc32c(bytes_of("123456789")) == 0xE3069283u);
  CHECK(crc32c_portable(bytes_of("123456789")) == 0xE3069283u);
}

TEST_CASE("crc32c matches the RFC 3720 (iSCSI) test vectors") {
  std::array<std::byte, 32> zeros{}, ones{}, ascending{}, descending{};
  for (std::size_t i = 0; i < 32; ++i) {
    ones[i] = std::byte{0xFF};
    ascending[i] = static_cast<std::byte>(i);
    descending[i] = static_cast<std::byte>(31 - i);
  }
  CHECK(crc32c(zeros) == 0x8A9136AAu);
  CHECK(crc32c(ones) == 0x62A8AB43u);
  CHECK(crc32c(ascending) == 0x46DD794Eu);
  CHECK(crc32c(descending) == 0x113FDB5Cu);
  CHECK(crc32c_portable(zeros) == 0x8A9136AAu);
  CHECK(crc32c_portable(descending) == 0x113FDB5Cu);
}

TEST_CASE("crc32c of nothing is 0") {
  CHECK(crc32c({}) == 0u);
}

TEST_CASE("crc32c extends: crc(a then b) equals crc(b - crc(a)) at every split point") {
  const auto data = bytes_of("The quick brown fox jumps over the lazy dog, twice over and again");
  const auto whole = crc32c(data);
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const std::span<const std::byte> all(data);
    CHECK(crc32c(all.subspan(split), crc32c(all.first(split))) == whole);
  }
}

TEST_CASE("the hardware and portable crc32c agree on random data of every length and alignment") {
  std::mt19937_64 rng(42);
  std::vector<std::byte> data(20000 + 16);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length :
         {0,   1,   3,   4,   5,   7,   8,    9,    15,   16,   63,   64,    65,    191,   192,
          193, 200, 767, 768, 769, 960, 1000, 1092, 1535, 1536, 4096, 12287, 12288, 12289, 20000}) {
      const std::span<const std::byte> s(data.data() + offset, length);
      CHECK(crc32c(s) == crc32c_portable(s));
    }
  }
  INFO("hardware path: " << switchyard::detail::crc32c_is_hardware());
  SUCCEED();
}

TEST_CASE("crc32c extends across long buffers: crc(a then b) equals crc(b - crc(a))") {
  std::mt19937_64 rng(7);
  std::vector<std::byte> data(6000);
  for (auto& b : data) b = static_cast<std::byte>(rng());
  const std::span<const std::byte> all(data);
  const auto whole = crc32c_portable(all);
  CHECK(crc32c(all) == whole);
  for (std::size_t split : {1, 4, 255, 256, 767, 768, 1024, 1500, 2999, 4000, 5232, 5999}) {
    INFO("split " << split);
    CHECK(crc32c(all.subspan(split), crc32c(all.first(split))) == whole);
    CHECK(crc32c(all.subspan(split), crc32c_portable(all.first(split))) == whole);
  }
}
