// switchyard/detail/partitioner.hpp — Kafka's default partitioner for keyed records, so a key
// lands in the partition a Kafka Java client would choose.
//
// murmur2 as in the Java client's org.apache.kafka.common.utils.Utils.murmur2: seed 0x9747b28c,
// m = 0x5bd1e995, r = 24, 4-byte little-endian blocks, the 1–3 tail bytes taken unsigned
// (`& 0xff`), all arithmetic modulo 2^32. The partition is `(murmur2(key) & 0x7fffffff) % n`
// (Utils.toPositive, then modulo).
#pragma once

#include <cstdint>
#include <string_view>

namespace switchyard::detail {

/// Kafka's murmur2 of `data`, as the Java client's signed int reinterpreted as unsigned.
constexpr std::uint32_t kafka_murmur2(std::string_view data) noexcept {
  constexpr std::uint32_t kSeed = 0x9747b28cu;
  constexpr std::uint32_t kM = 0x5bd1e995u;
  constexpr int kR = 24;
  const auto length = static_cast<std::uint32_t>(data.size());
  auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
  };
  std::uint32_t h = kSeed ^ length;
  const std::size_t blocks = data.size() / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::size_t at = i * 4;
    std::uint32_t k = byte(at) | byte(at + 1) << 8 | byte(at + 2) << 16 | byte(at + 3) << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const std::size_t tail = blocks * 4;
  switch (data.size() % 4) {
    case 3:
      h ^= byte(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte(tail);
      h *= kM;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

/// The partition Kafka's default partitioner gives a record keyed `key`, of `partitions` (> 0).
constexpr std::uint32_t kafka_partition(std::string_view key, std::uint32_t partitions) noexcept {
  return (kafka_murmur2(key) & 0x7fffffffu) % partitions;
}

}  // namespace switchyard::detail
