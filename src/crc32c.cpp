// CRC-32C: SSE4.2 instruction where the CPU has it, slicing-by-8 tables elsewhere.
#include "switchyard/detail/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define SWITCHYARD_CRC32C_X86 1
#endif

namespace switchyard::detail {
namespace {

constexpr std::uint32_t kReflectedPolynomial = 0x82F63B78u;

// table[k][b]: CRC contribution of byte b followed by k zero bytes (slicing-by-8).
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kReflectedPolynomial : 0u);
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr auto kTables = make_tables();

std::uint32_t portable_raw(const unsigned char* p, std::size_t n, std::uint32_t c) noexcept {
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian hosts only (static_assert'ed in segment_format)
    word ^= c;
    c = kTables[7][word & 0xFF] ^ kTables[6][(word >> 8) & 0xFF] ^ kTables[5][(word >> 16) & 0xFF] ^
        kTables[4][(word >> 24) & 0xFF] ^ kTables[3][(word >> 32) & 0xFF] ^
        kTables[2][(word >> 40) & 0xFF] ^ kTables[1][(word >> 48) & 0xFF] ^ kTables[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFF];
  return c;
}

// Shifting a raw CRC register across `bytes` zero bytes is linear over GF(2): four byte
// tables apply it (table[k][b]: the register b << 8k after the zeros). That lets three
// independent streams run at once and be joined: raw(A B, c) = shift(raw(A, c), |B|) ^ raw(B, 0).
struct ZeroShift {
  std::array<std::array<std::uint32_t, 256>, 4> table{};
  [[nodiscard]] std::uint32_t operator()(std::uint32_t c) const noexcept {
    return table[0][c & 0xFF] ^ table[1][(c >> 8) & 0xFF] ^ table[2][(c >> 16) & 0xFF] ^
           table[3][c >> 24];
  }
};

constexpr ZeroShift make_zero_shift(std::size_t bytes) {
  std::array<std::uint32_t, 32> column{};  // image of each single register bit
  for (std::size_t bit = 0; bit < 32; ++bit) {
    std::uint32_t c = std::uint32_t{1} << bit;
    for (std::size_t i = 0; i < bytes; ++i) c = (c >> 8) ^ kTables[0][c & 0xFF];
    column[bit] = c;
  }
  ZeroShift shift;
  for (std::size_t k = 0; k < 4; ++k) {
    for (std::size_t b = 0; b < 256; ++b) {
      std::uint32_t v = 0;
      for (std::size_t bit = 0; bit < 8; ++bit) {
        if (((b >> bit) & 1u) != 0) v ^= column[8 * k + bit];
      }
      shift.table[k][b] = v;
    }
  }
  return shift;
}

#if SWITCHYARD_CRC32C_X86
// Stream lengths of the three-way loops: the crc32 instruction has a latency of 3 cycles and a
// throughput of 1, so one stream uses a third of it. Long blocks for the bulk, short ones so
// that a 1 KiB record's tail is not left to the single stream.
constexpr std::size_t kLongStream = 256;
constexpr std::size_t kShortStream = 64;
constexpr ZeroShift kShiftLong = make_zero_shift(kLongStream);
constexpr ZeroShift kShiftShort = make_zero_shift(kShortStream);

__attribute__((target("sse4.2"))) inline std::uint64_t word_at(const unsigned char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, 8);  // x86 loads need no alignment
  return word;
}

template <std::size_t kStream>
__attribute__((target("sse4.2"))) inline std::uint32_t three_way(const unsigned char*& p,
                                                                 std::size_t& n, std::uint32_t c,
                                                                 const ZeroShift& shift) noexcept {
  while (n >= 3 * kStream) {
    std::uint64_t c0 = c, c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < kStream; i += 8) {
      c0 = _mm_crc32_u64(c0, word_at(p + i));
      c1 = _mm_crc32_u64(c1, word_at(p + kStream + i));
      c2 = _mm_crc32_u64(c2, word_at(p + 2 * kStream + i));
    }
    c = shift(shift(static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1)) ^
        static_cast<std::uint32_t>(c2);
    p += 3 * kStream;
    n -= 3 * kStream;
  }
  return c;
}

__attribute__((target("sse4.2"))) std::uint32_t hardware_raw(const unsigned char* p, std::size_t n,
                                                             std::uint32_t c) noexcept {
  c = three_way<kLongStream>(p, n, c, kShiftLong);
  c = three_way<kShortStream>(p, n, c, kShiftShort);
  std::uint64_t c64 = c;
  for (; n >= 8; p += 8, n -= 8) c64 = _mm_crc32_u64(c64, word_at(p));
  c = static_cast<std::uint32_t>(c64);
  if (n >= 4) {
    std::uint32_t word;
    std::memcpy(&word, p, 4);
    c = _mm_crc32_u32(c, word);
    p += 4;
    n -= 4;
  }
  while (n-- > 0) c = _mm_crc32_u8(c, *p++);
  return c;
}
#endif

using RawFn = std::uint32_t (*)(const unsigned char*, std::size_t, std::uint32_t) noexcept;

RawFn choose() noexcept {
#if SWITCHYARD_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2")) return &hardware_raw;
#endif
  return &portable_raw;
}

// A function-local static: initialised once, thread-safe by the language (magic statics).
RawFn dispatch() noexcept {
  static const RawFn fn = choose();
  return fn;
}

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return ~dispatch()(p, data.size(), ~crc);
}

std::uint32_t crc32c_portable(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  return ~portable_raw(p, data.size(), ~crc);
}

bool crc32c_is_hardware() noexcept {
#if SWITCHYARD_CRC32C_X86
  return dispatch() == &hardware_raw;
#else
  return false;
#endif
}

}  // namespace switchyard::detail
