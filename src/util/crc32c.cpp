// CRC-32C: SSE4.2 instruction where the CPU has it, slicing-by-8 tables elsewhere.
#include "util/crc32c.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
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

// Folding with VPCLMULQDQ (AVX-512): 64 bytes per carry-less multiply pair, four times the
// crc32 instruction's 8 bytes per cycle. The raw CRC of a message M (register 0 to start) is
// M(x) x^32 mod P, and the starting register c just XORs into M's first 32 bits. So any
// A(x) = M(x) mod P of at most 128 bits gives the same CRC as M: the crc32 instruction over
// A's 16 bytes finishes the job. Folding builds such an A: a 128-bit lane X = a x^64 + b (a =
// its first 8 bytes, the higher powers) moved D bits on is a x^(D+64) + b x^D, congruent to
// a (x^(D+64) mod P) + b (x^D mod P), which fits 96 bits; XOR the data D bits on into it.
//
// Bit order: a lane holds the message reflected (bit k of the little-endian 128-bit value is
// the coefficient of x^(127-k)); a 64-bit half, bit j of x^(63-j). A carry-less product of two
// such halves U, V has bit k = coefficient of x^(126-k) of UV, which read as a lane is U V x:
// so the constant for a multiplier x^E is x^(E-1) mod P, its 32 bits reflected into the top of
// a 64-bit half (degree d at bit 63 - d).
constexpr std::uint64_t fold_constant(unsigned exponent) {
  std::uint64_t r = 1;  // x^e mod P, normal bit order
  for (unsigned e = 0; e < exponent; ++e) {
    r <<= 1;
    if ((r >> 32) != 0) r ^= 0x1'1EDC'6F41ull;
  }
  return std::uint64_t{reflect32(static_cast<std::uint32_t>(r))} << 32;
}
// A lane moved D bits on: first half times x^(D+64), second half times x^D.
struct FoldPair {
  std::uint64_t first, second;
};
constexpr FoldPair fold_pair(unsigned distance_bits) {
  return {fold_constant(distance_bits + 63), fold_constant(distance_bits - 1)};
}
constexpr FoldPair kFold2048 = fold_pair(2048);  // four 64-byte registers on
constexpr FoldPair kFold1536 = fold_pair(1536);
constexpr FoldPair kFold1024 = fold_pair(1024);
constexpr FoldPair kFold512 = fold_pair(512);  // one register on
constexpr FoldPair kFold384 = fold_pair(384);
constexpr FoldPair kFold256 = fold_pair(256);
constexpr FoldPair kFold128 = fold_pair(128);  // one lane on
constexpr std::size_t kFoldBlock = 256;        // bytes per main-loop step (four registers)
constexpr std::size_t kMinFold = 768;          // shorter buffers: the three crc32 streams

// GCC 12's own AVX-512 intrinsics (_mm512_undefined_* inside broadcast and extract) trip
// -Wmaybe-uninitialized: a false positive in the system header, silenced for this code only.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define SWITCHYARD_CRC32C_FOLD_TARGET \
  __attribute__((target("sse4.2,pclmul,avx2,avx512f,avx512vl,vpclmulqdq")))

SWITCHYARD_CRC32C_FOLD_TARGET inline __m512i fold512(__m512i x, __m512i k, __m512i next) noexcept {
  // 0x96: three-way XOR.
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                   _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

SWITCHYARD_CRC32C_FOLD_TARGET std::uint32_t fold_raw(const unsigned char* p, std::size_t n,
                                                     std::uint32_t c) noexcept {
  if (n < kMinFold) return split_raw(p, n, c);
  __m512i z0 = _mm512_loadu_si512(p);
  __m512i z1 = _mm512_loadu_si512(p + 64);
  __m512i z2 = _mm512_loadu_si512(p + 128);
  __m512i z3 = _mm512_loadu_si512(p + 192);
  z0 = _mm512_xor_si512(z0, _mm512_castsi128_si512(_mm_cvtsi32_si128(static_cast<int>(c))));
  p += kFoldBlock;
  n -= kFoldBlock;
  const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(
      static_cast<long long>(kFold2048.second), static_cast<long long>(kFold2048.first)));
  for (; n >= kFoldBlock; p += kFoldBlock, n -= kFoldBlock) {
    z0 = fold512(z0, k2048, _mm512_loadu_si512(p));
    z1 = fold512(z1, k2048, _mm512_loadu_si512(p + 64));
    z2 = fold512(z2, k2048, _mm512_loadu_si512(p + 128));
    z3 = fold512(z3, k2048, _mm512_loadu_si512(p + 192));
  }
  // The four registers, then the four lanes, moved to the last one's place all at once (no
  // chain of dependent folds): each times its own distance's constants, XORed together.
  auto pair = [](FoldPair f) {
    return _mm_set_epi64x(static_cast<long long>(f.second), static_cast<long long>(f.first));
  };
  const __m512i z03 = fold512(z0, _mm512_broadcast_i32x4(pair(kFold1536)), z3);
  const __m512i z1m = fold512(z1, _mm512_broadcast_i32x4(pair(kFold1024)), _mm512_setzero_si512());
  __m512i z = fold512(z2, _mm512_broadcast_i32x4(pair(kFold512)), _mm512_xor_si512(z03, z1m));
  // Lanes 0-2 of z move 384, 256, 128 bits on; lane 3 stays.
  const __m512i lanes = _mm512_inserti32x4(
      _mm512_inserti32x4(_mm512_inserti32x4(_mm512_setzero_si512(), pair(kFold384), 0),
                         pair(kFold256), 1),
      pair(kFold128), 2);
  z = fold512(z, lanes, _mm512_maskz_mov_epi64(0xC0, z));
  const __m256i y = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64(z, 1));
  const __m128i a = _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
  // A is congruent to everything so far: its CRC is theirs.
  std::uint64_t crc = _mm_crc32_u64(0, static_cast<std::uint64_t>(_mm_cvtsi128_si64(a)));
  crc = _mm_crc32_u64(crc, static_cast<std::uint64_t>(_mm_extract_epi64(a, 1)));
  return split_raw(p, n, static_cast<std::uint32_t>(crc));
}
#undef SWITCHYARD_CRC32C_FOLD_TARGET
#pragma GCC diagnostic pop
#endif

using RawFn = std::uint32_t (*)(const unsigned char*, std::size_t, std::uint32_t) noexcept;

RawFn choose() noexcept {
#if SWITCHYARD_CRC32C_X86
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("vpclmulqdq")) {
      return &fold_raw;
    }
    return &split_raw;
  }
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
