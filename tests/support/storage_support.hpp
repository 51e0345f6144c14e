// Helpers shared by the storage tests: a scratch directory, byte helpers, file surgery.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/file.hpp"

namespace switchyard::test {

/// Installs `injector` for every storage call of the process while it lives.
class Installed {
 public:
  explicit Installed(detail::FaultInjector& injector) { detail::FaultInjector::install(&injector); }
  ~Installed() { detail::FaultInjector::install(nullptr); }
  Installed(const Installed&) = delete;
  Installed& operator=(const Installed&) = delete;
};

/// True in a sanitizer build, where heavy loops scale down (they run ~10x slower).
#ifdef SWITCHYARD_SANITIZER_BUILD
inline constexpr bool kSanitizer = true;
#else
inline constexpr bool kSanitizer = false;
#endif

/// A fresh directory, removed with everything in it when the object dies. It lives under
/// $SWITCHYARD_TEST_DIR if set, else /dev/shm when writable (tmpfs: the fault tests create and
/// recover thousands of files, ~30x faster than on this VM's disk; mmap, fallocate, msync and
/// fsync behave as on disk except that syncs are instant), else $TMPDIR.
class ScratchDir {
 public:
  static std::filesystem::path root() {
    if (const char* dir = std::getenv("SWITCHYARD_TEST_DIR"); dir != nullptr && *dir != 0) {
      return dir;
    }
    if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return std::filesystem::temp_directory_path();
  }

  ScratchDir() {
    std::string pattern = (root() / "switchyard-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::vector<std::byte> bytes_of(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

inline std::string text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const std::byte*>(raw.data());
  return {p, p + raw.size()};
}

inline void write_all(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

/// Flips the lowest bit of the byte at `offset` in `path` (a one-bit corruption).
inline void flip_bit(const std::filesystem::path& path, std::size_t offset) {
  auto bytes = read_all(path);
  bytes.at(offset) ^= std::byte{0x01};
  write_all(path, bytes);
}

/// Segment files of a stream directory, in offset order.
inline std::vector<std::filesystem::path> segment_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// A payload that names its record ("record-17-xxxx..."), `size` bytes long, never zero bytes.
inline std::string payload_for(std::uint64_t n, std::size_t size = 40) {
  std::string s = "record-" + std::to_string(n) + "-";
  while (s.size() < size) s.push_back(static_cast<char>('a' + (n + s.size()) % 26));
  s.resize(size);
  return s;
}

}  // namespace switchyard::test
