// switchyard/detail/file.hpp — thin RAII over the POSIX calls the storage layer makes.
//
// Every failure becomes a `Failure` whose message names the file (and offset where there is
// one): ENOSPC / EFBIG / EDQUOT map to `Errc::disk_full`, everything else to `Errc::io_error`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/error.hpp"

namespace switchyard::detail {

/// Test hook: lets a test make the next allocation or sync fail with a chosen errno.
/// Called from whichever thread allocates or syncs; implementations must be thread-safe.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  /// errno with which reserving `bytes` for `path` fails, or 0 to proceed.
  virtual int on_allocate(std::string_view /*path*/, std::uint64_t /*bytes*/) noexcept { return 0; }
  /// errno with which syncing `path` fails, or 0 to proceed.
  virtual int on_sync(std::string_view /*path*/) noexcept { return 0; }
};

/// `Errc::disk_full` for ENOSPC/EFBIG/EDQUOT, `Errc::io_error` otherwise, with
/// "<path>: <what>: <strerror>" as the message.
Failure os_failure(int err, std::string_view path, std::string_view what);

/// An owned file descriptor.
class FileHandle {
 public:
  FileHandle() = default;
  explicit FileHandle(int fd) noexcept : fd_(fd) {}
  FileHandle(FileHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle();

  static Result<FileHandle> open(const std::filesystem::path& path, int flags, int mode = 0644);
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// A shared memory mapping of a whole file (or its first `size` bytes). Read-only or
/// read-write; unmapped when the last owner lets go, so a batch of record views can pin it.
class Mapping {
 public:
  static Result<std::shared_ptr<Mapping>> map(int fd, std::size_t size, bool writable,
                                              std::string path);
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// msync(MS_SYNC) of [from, to), widened to whole pages.
  [[nodiscard]] int sync(std::size_t from, std::size_t to) const noexcept;

 private:
  Mapping(std::byte* data, std::size_t size, std::string path)
      : data_(data), size_(size), path_(std::move(path)) {}
  std::byte* data_;
  std::size_t size_;
  std::string path_;
};

/// fsync of a directory, so that file creations, renames and removals in it are durable.
Status sync_directory(const std::filesystem::path& dir);

/// Writes `bytes` to `path` atomically: write `path`.tmp, fsync, rename over `path`, fsync
/// the directory.
Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes,
                             FaultInjector* faults = nullptr);

/// Reads a whole (small) file.
Result<std::vector<std::byte>> read_file(const std::filesystem::path& path);

}  // namespace switchyard::detail
