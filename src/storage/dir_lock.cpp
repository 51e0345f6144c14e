#include "storage/dir_lock.hpp"

#include <cerrno>
#include <charconv>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

namespace switchyard::detail {
namespace {

pid_t read_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  pid_t pid = 0;
  std::from_chars(buf, buf + n, pid);
  return pid;
}

}  // namespace

Result<DirLock> DirLock::acquire(const std::filesystem::path& dir) {
  if (auto made = make_directories(dir); !made) return made.failure();
  auto path = dir / "LOCK";
  const std::string name = path.string();
  auto fd = FileHandle::open(path, O_RDWR | O_CREAT);
  if (!fd) return fd.failure();
  if (const int err = inject(nullptr, {.call = FileCall::lock, .path = name}); err != 0) {
    return os_failure(err, name, "flock");
  }
  if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return os_failure(errno, path.string(), "flock");
    const pid_t owner = read_pid(fd->get());
    return Failure{
        Errc::locked,
        owner != 0 ? fmt::format("{}: data directory is in use by process {}", dir.string(), owner)
                   : fmt::format("{}: data directory is in use by another process", dir.string())};
  }
  const pid_t previous = read_pid(fd->get());
  const std::string me = fmt::format("{}\n", ::getpid());
  if (auto truncated = truncate(fd->get(), name, 0); !truncated) return truncated.failure();
  int err = inject(nullptr, {.call = FileCall::write, .path = name, .length = me.size()});
  if (err == 0 && ::pwrite(fd->get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    err = errno != 0 ? errno : EIO;
  }
  if (err != 0) return os_failure(err, name, "write owner pid");
  return DirLock(std::move(*fd), std::move(path), previous);
}

DirLock::~DirLock() {
  if (fd_.valid()) {
    // Clear the pid before the lock goes: a pid left in the file means "died holding it".
    (void)truncate(fd_.get(), path_.string(), 0);
  }
}

}  // namespace switchyard::detail
