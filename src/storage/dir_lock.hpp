// src/storage/dir_lock.hpp — one process per data directory.
//
// `<dir>/LOCK` is held with flock(LOCK_EX) for the owner's lifetime and holds the owner's pid
// (for the error message only). The kernel drops a flock when its owner dies, however it dies,
// so a lock left by a killed process is simply taken over; its pid is reported as the stale
// owner. A second opener while the owner lives — another process, or the same process
// through a second DirLock — gets `Errc::locked` naming the owner's pid.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "storage/file.hpp"
#include "switchyard/error.hpp"

namespace switchyard::detail {

class DirLock {
 public:
  /// Locks `dir` (creating it). Fails with `Errc::locked` if a live owner holds it.
  static Result<DirLock> acquire(const std::filesystem::path& dir);

  DirLock(DirLock&&) noexcept = default;
  DirLock& operator=(DirLock&&) noexcept = default;
  /// Releases the lock (and clears the pid, so the next owner sees no stale owner).
  ~DirLock();

  /// Pid recorded by a previous owner that died holding the lock (0 if none).
  [[nodiscard]] pid_t stale_owner() const noexcept { return stale_owner_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  DirLock(FileHandle fd, std::filesystem::path path, pid_t stale)
      : fd_(std::move(fd)), path_(std::move(path)), stale_owner_(stale) {}
  FileHandle fd_;
  std::filesystem::path path_;
  pid_t stale_owner_ = 0;
};

}  // namespace switchyard::detail
