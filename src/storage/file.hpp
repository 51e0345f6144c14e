// src/storage/file.hpp — thin RAII over the POSIX calls the storage layer makes.
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

/// Every kind of system call the storage layer makes. Each one passes through `inject` first.
enum class FileCall : std::uint8_t {
  open,            ///< open(2) of a file or directory
  allocate,        ///< posix_fallocate: `length` bytes at `offset`
  truncate,        ///< ftruncate to `length`
  map,             ///< mmap of `length` bytes
  msync,           ///< msync of [offset, offset + length)
  fdatasync,       ///< fdatasync of a whole file
  fsync,           ///< fsync of a whole (small) file
  rename,          ///< rename `path` to `to`
  sync_directory,  ///< fsync of the directory `path`
  unlink,          ///< unlink of a file (or removal of a directory tree)
  close,           ///< close(2)
  mkdir,           ///< creation of a directory (and its parents)
  list,            ///< listing a directory
  read,            ///< read of a small file
  write,           ///< write of a small file at `offset`, `length` bytes
  lock,            ///< flock of the data directory's LOCK
  stat,            ///< fstat of an open file (its size)
};
inline constexpr std::size_t kFileCalls = 17;
[[nodiscard]] std::string_view to_string(FileCall call) noexcept;

/// One storage call about to be made.
struct FileOp {
  FileCall call;
  std::string_view path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string_view to{};  ///< rename: the new name
};

/// Test hook: lets a test fail any storage call with a chosen errno, or watch them all (the
/// power-cut test records what each sync made durable). Called from whichever thread makes the
/// call (appenders, the flusher); implementations must be thread-safe.
///
/// Two ways in: a pointer in `SegmentLogOptions::faults` / `CheckpointFile::open` (that object
/// only), or `install` (every call of the process that has no pointer of its own: the whole
/// Broker, its catalog, its lock and every journal and log). @internal for tests only.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  /// errno with which `op` fails, or 0 to make the call. The default asks `on_allocate` for
  /// `allocate`, `on_sync` for msync / fdatasync / fsync / sync_directory, and lets the rest be.
  virtual int on_call(const FileOp& op) noexcept;
  /// errno with which reserving `bytes` more for `path` fails, or 0 to proceed.
  virtual int on_allocate(std::string_view /*path*/, std::uint64_t /*bytes*/) noexcept { return 0; }
  /// errno with which syncing `path` fails, or 0 to proceed.
  virtual int on_sync(std::string_view /*path*/) noexcept { return 0; }

  /// Makes `injector` see every storage call that has no injector of its own (null: none).
  /// Returns once no call is still in the injector it replaced, which the caller may then
  /// destroy. Not from inside an on_call. @note threadsafe
  static void install(FaultInjector* injector) noexcept;
  [[nodiscard]] static FaultInjector* installed() noexcept;
};

/// errno with which `op` must fail (0: make the call): asks `local`, else the installed
/// injector. One load and branch on a null pointer when no test hook is set.
[[nodiscard]] int inject(FaultInjector* local, const FileOp& op) noexcept;

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

  static Result<FileHandle> open(const std::filesystem::path& path, int flags, int mode = 0644,
                                 FaultInjector* faults = nullptr);
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  /// Closes without asking the injector or reporting (destructors, error paths).
  void reset() noexcept;
  /// Closes and reports a failed close (`path` names the file in the message).
  Status close(std::string_view path, FaultInjector* faults = nullptr) noexcept;

 private:
  int fd_ = -1;
};

/// A shared memory mapping of a whole file (or its first `size` bytes). Read-only or
/// read-write; unmapped when the last owner lets go, so a batch of record views can pin it.
class Mapping {
 public:
  static Result<std::shared_ptr<Mapping>> map(int fd, std::size_t size, bool writable,
                                              std::string path, FaultInjector* faults = nullptr);
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// msync(MS_SYNC) of [from, to), widened to whole pages; 0 or the errno (injected too).
  [[nodiscard]] int sync(std::size_t from, std::size_t to) const noexcept;

 private:
  Mapping(std::byte* data, std::size_t size, std::string path, FaultInjector* faults)
      : data_(data), size_(size), path_(std::move(path)), faults_(faults) {}
  std::byte* data_;
  std::size_t size_;
  std::string path_;
  FaultInjector* faults_;
};

/// fsync of a directory, so that file creations, renames and removals in it are durable.
Status sync_directory(const std::filesystem::path& dir, FaultInjector* faults = nullptr);

/// posix_fallocate of [offset, offset + bytes), extending the file to its end if it is
/// shorter (`Errc::disk_full` when the disk is).
Status allocate(int fd, std::string_view path, std::uint64_t offset, std::uint64_t bytes,
                FaultInjector* faults = nullptr);
/// fstat's size of the open file `fd` (`path` names it in the message).
Result<std::size_t> file_size(int fd, std::string_view path, FaultInjector* faults = nullptr);
/// ftruncate to `size`.
Status truncate(int fd, std::string_view path, std::uint64_t size, FaultInjector* faults = nullptr);
/// unlink of a file; a file already gone is not an error.
Status remove_file(const std::filesystem::path& path, FaultInjector* faults = nullptr);
/// Removes a directory tree; one already gone is not an error.
Status remove_tree(const std::filesystem::path& path, FaultInjector* faults = nullptr);
/// Creates a directory and its parents.
Status make_directories(const std::filesystem::path& dir, FaultInjector* faults = nullptr);
/// The entries of a directory.
Result<std::vector<std::filesystem::directory_entry>> list_directory(
    const std::filesystem::path& dir, FaultInjector* faults = nullptr);

/// Creates (or truncates) `path`, writes `bytes` and fsyncs it. Not atomic: see below.
Status write_file(const std::filesystem::path& path, std::span<const std::byte> bytes,
                  FaultInjector* faults = nullptr);
/// rename(2) of `from` to `to` (replacing `to`); durable after a `sync_directory`.
Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to,
                   FaultInjector* faults = nullptr);
/// Writes `bytes` to `path` atomically: write `path`.tmp, fsync, rename over `path`, fsync
/// the directory.
Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes,
                             FaultInjector* faults = nullptr);

/// Reads a whole (small) file.
Result<std::vector<std::byte>> read_file(const std::filesystem::path& path,
                                         FaultInjector* faults = nullptr);

}  // namespace switchyard::detail
