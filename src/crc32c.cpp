// CRC-32C: SSE4.2 instruction where the CPU has it, slicing-by-8 tables elsewhere.
#include "switchyard/detail/crc32c.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#include <wmmintrin.h>
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

#if SWITCHYARD_CRC32C_X86
__attribute__((target("sse4.2"))) inline std::uint64_t word_at(const unsigned char* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, 8);  // x86 loads need no alignment
  return word;
}

// One stream: 8 bytes per instruction, but each waits for the previous one's 3-cycle latency.
__attribute__((target("sse4.2"))) std::uint32_t hardware_raw(const unsigned char* p, std::size_t n,
                                                             std::uint32_t c) noexcept {
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

// Three streams hide that latency; joining them needs the CRC register shifted across zeros:
// raw(A B, c) = shift(raw(A, c), |B|) ^ raw(B, 0), since the register update is linear.
// With PCLMULQDQ a shift takes one carry-less multiply and one crc32 instruction, for any
// distance in a small table: shift(c, L bytes) = crc32_u64(0, clmul(c, x^(8L - 33) mod P)),
// the constant bit-reflected. So a buffer splits into three equal streams in one pass, with
// no single-stream tail but the last < 24 bytes (a 1 KiB record: 3 x 360 bytes + 8).
constexpr std::size_t kMaxSplitStream = 4096;

constexpr std::uint32_t reflect32(std::uint32_t v) {
  std::uint32_t r = 0;
  for (unsigned bit = 0; bit < 32; ++bit) r |= ((v >> bit) & 1u) << (31 - bit);
  return r;
}

// Entry i: the constant that shifts across 8 i bytes, i in [1, 2 kMaxSplitStream / 8].
constexpr auto make_clmul_shifts() {
  std::array<std::uint32_t, 2 * kMaxSplitStream / 8 + 1> k{};
  std::uint64_t r = 1;  // x^e mod P, normal bit order
  unsigned e = 0;
  for (std::size_t i = 1; i < k.size(); ++i) {
    for (; e < 64 * i - 33; ++e) {
      r <<= 1;
      if ((r >> 32) != 0) r ^= 0x1'1EDC'6F41ull;  // x^32 + the normal polynomial 0x1EDC6F41
    }
    k[i] = reflect32(static_cast<std::uint32_t>(r));
  }
  return k;
}
constexpr auto kClmulShifts = make_clmul_shifts();

__attribute__((target("sse4.2,pclmul"))) inline std::uint32_t clmul_shift(
    std::uint64_t c, std::uint32_t k) noexcept {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(c)),
                                               _mm_cvtsi32_si128(static_cast<int>(k)), 0x00);
  return static_cast<std::uint32_t>(
      _mm_crc32_u64(0, static_cast<std::uint64_t>(_mm_cvtsi128_si64(product))));
}

__attribute__((target("sse4.2,pclmul"))) std::uint32_t split_raw(const unsigned char* p,
                                                                 std::size_t n,
                                                                 std::uint32_t c) noexcept {
  while (n >= 48) {
    const std::size_t stream = std::min(n / 24 * 8, kMaxSplitStream);
    std::uint64_t c0 = c, c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < stream; i += 8) {
      c0 = _mm_crc32_u64(c0, word_at(p + i));
      c1 = _mm_crc32_u64(c1, word_at(p + stream + i));
      c2 = _mm_crc32_u64(c2, word_at(p + 2 * stream + i));
    }
    c = clmul_shift(c0, kClmulShifts[2 * stream / 8]) ^ clmul_shift(c1, kClmulShifts[stream / 8]) ^
        static_cast<std::uint32_t>(c2);
    p += 3 * stream;
    n -= 3 * stream;
  }
  return hardware_raw(p, n, c);  // < 48 bytes: its single stream
}
#endif

using RawFn = std::uint32_t (*)(const unsigned char*, std::size_t, std::uint32_t) noexcept;

RawFn choose() noexcept {
#if SWITCHYARD_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) return &split_raw;
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
  return dispatch() != &portable_raw;
#else
  return false;
#endif
}

}  // namespace switchyard::detail
