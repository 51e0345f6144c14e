// src/util/murmur2.hpp — Kafka's murmur2 hash and its default key partitioner.
//
// A keyed record lands on the partition a Kafka client's default partitioner would choose for
// the same key and partition count, so keys spread as they would in Kafka. This is the
// 32-bit MurmurHash2 exactly as the Java client's `Utils.murmur2(byte[])` computes it:
//
//   seed 0x9747b28c, m = 0x5bd1e995, r = 24, h = seed ^ length;
//   body : 4 bytes at a time, little-endian, each byte taken as unsigned (Java masks `& 0xff`);
//   tail : the last length % 4 bytes, also masked `& 0xff` (so bytes >= 0x80 are NOT sign-
//          extended — unlike C ports that read through a plain `char`), then h *= m;
//   final: h ^= h >>> 13; h *= m; h ^= h >>> 15.
//   Every multiply wraps modulo 2^32 (Java `int` arithmetic; `>>>` is a logical shift).
//
// The result is returned as the 32-bit pattern (`std::uint32_t`); Kafka's tests quote it as a
// signed Java `int` — `static_cast<std::int32_t>` gives that value.
//
// `kafka_partition` is the default partitioner's keyed path:
//   toPositive(murmur2(keyBytes)) % numPartitions, with toPositive(x) = x & 0x7fffffff.
// Keyless records are not hashed by Kafka (sticky / round-robin); choosing their partition is
// the topic's business, not this header's.
//
// Everything here is constexpr, noexcept, allocation-free and safe from any thread.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace switchyard::detail {

/// Kafka's murmur2 seed (`Utils.murmur2`).
inline constexpr std::uint32_t kKafkaMurmur2Seed = 0x9747b28cU;

namespace murmur2_impl {

inline constexpr std::uint32_t kM = 0x5bd1e995U;
inline constexpr int kR = 24;

// `byte_at(i)` yields byte i as an unsigned value 0..255.
template <class ByteAt>
constexpr std::uint32_t hash(std::size_t length, ByteAt byte_at) noexcept {
  // Java computes `seed ^ length` on an int: a key longer than 2^31 - 1 bytes cannot exist in
  // Kafka, so truncating the length to 32 bits matches it for every key Kafka can hash.
  std::uint32_t h = kKafkaMurmur2Seed ^ static_cast<std::uint32_t>(length);
  const std::size_t blocks = length / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const std::size_t i4 = i * 4;
    std::uint32_t k =
        byte_at(i4) | (byte_at(i4 + 1) << 8) | (byte_at(i4 + 2) << 16) | (byte_at(i4 + 3) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const std::size_t tail = length & ~std::size_t{3};
  switch (length % 4) {
    case 3:
      h ^= byte_at(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte_at(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte_at(tail);
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

}  // namespace murmur2_impl

/// Kafka's murmur2 of `key` (the Java `int` result as its 32-bit pattern).
constexpr std::uint32_t murmur2(std::span<const std::byte> key) noexcept {
  return murmur2_impl::hash(
      key.size(), [key](std::size_t i) constexpr noexcept {
        return std::to_integer<std::uint32_t>(key[i]);
      });
}

/// Kafka's murmur2 of the bytes of `key` (a `std::string`'s bytes, as `String.getBytes(UTF_8)`
/// gives them for UTF-8 text).
constexpr std::uint32_t murmur2(std::string_view key) noexcept {
  return murmur2_impl::hash(
      key.size(), [key](std::size_t i) constexpr noexcept {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(key[i]));
      });
}

/// The partition Kafka's default partitioner gives a record with this (non-null) key:
/// `(murmur2(key) & 0x7fffffff) % partitions`. An empty key is a key (it hashes; Kafka
/// treats only a null key as keyless).
/// Precondition: `partitions > 0` (a topic has at least one partition; checked by assert).
constexpr std::uint32_t kafka_partition(std::span<const std::byte> key,
                                        std::uint32_t partitions) noexcept {
  assert(partitions > 0 && "kafka_partition: a topic has at least one partition");
  return (murmur2(key) & 0x7fffffffU) % partitions;
}

/// As above, for a key held as text or as a `std::string` of bytes.
constexpr std::uint32_t kafka_partition(std::string_view key, std::uint32_t partitions) noexcept {
  assert(partitions > 0 && "kafka_partition: a topic has at least one partition");
  return (murmur2(key) & 0x7fffffffU) % partitions;
}

}  // namespace switchyard::detail
