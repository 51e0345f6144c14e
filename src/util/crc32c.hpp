// src/util/crc32c.hpp — CRC-32C (Castagnoli), the checksum of every persisted byte.
//
// Polynomial 0x1EDC6F41 (reflected 0x82F63B78), initial value and final xor 0xFFFFFFFF: the
// CRC of iSCSI (RFC 3720), ext4, LevelDB/RocksDB and Kafka record batches. Check value:
// crc32c("123456789") == 0xE3069283.
//
// Dispatch: on the first call the library asks the CPU once (`__builtin_cpu_supports`) and from
// then on uses the SSE4.2 `crc32` instruction (8 bytes per instruction) — in three interleaved
// streams joined by PCLMULQDQ shifts where the CPU has that too, which hides the instruction's
// 3-cycle latency (a 1 KiB record: ~30% less time than one stream) — or a portable
// slicing-by-8 table. Buffers of 768 bytes and more, on CPUs with AVX-512 VPCLMULQDQ, are
// first folded 256 bytes per step by carry-less multiplies (2x the crc32 streams on long
// buffers, a 1 KiB record ~30% faster; valgrind hides AVX-512, so it runs the streams). All
// give identical results; tests compare them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace switchyard::detail {

/// CRC-32C of `data`, extending `crc` (the CRC of the bytes before `data`; 0 to start).
/// `crc32c(b, crc32c(a)) == crc32c(a ++ b)`. Thread-safe, noexcept, no allocation.
[[nodiscard]] std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

/// The portable table implementation, exposed so tests can compare it with the hardware path.
[[nodiscard]] std::uint32_t crc32c_portable(std::span<const std::byte> data,
                                            std::uint32_t crc = 0) noexcept;

/// True when `crc32c` uses the CPU's CRC-32C instruction.
[[nodiscard]] bool crc32c_is_hardware() noexcept;

}  // namespace switchyard::detail
