#include "switchyard/detail/file.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace switchyard::detail {

Failure os_failure(int err, std::string_view path, std::string_view what) {
  const bool full = err == ENOSPC || err == EFBIG || err == EDQUOT;
  return Failure{full ? Errc::disk_full : Errc::io_error,
                 fmt::format("{}: {}: {}", path, what, std::strerror(err))};
}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileHandle::~FileHandle() {
  reset();
}

void FileHandle::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<FileHandle> FileHandle::open(const std::filesystem::path& path, int flags, int mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return os_failure(errno, path.string(), "open");
  return FileHandle(fd);
}

Result<std::shared_ptr<Mapping>> Mapping::map(int fd, std::size_t size, bool writable,
                                              std::string path) {
  if (size == 0) return Failure{Errc::io_error, fmt::format("{}: cannot map an empty file", path)};
  void* p = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return os_failure(errno, path, fmt::format("mmap of {} bytes", size));
  return std::shared_ptr<Mapping>(new Mapping(static_cast<std::byte*>(p), size, std::move(path)));
}

Mapping::~Mapping() {
  ::munmap(data_, size_);
}

int Mapping::sync(std::size_t from, std::size_t to) const noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  from -= from % page;
  if (to > size_) to = size_;
  if (to <= from) return 0;
  return ::msync(data_ + from, to - from, MS_SYNC) == 0 ? 0 : errno;
}

Status sync_directory(const std::filesystem::path& dir) {
  auto fd = FileHandle::open(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.failure();
  if (::fsync(fd->get()) != 0) return os_failure(errno, dir.string(), "fsync of directory");
  return {};
}

Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes,
                             FaultInjector* faults) {
  auto tmp = path;
  tmp += ".tmp";
  {
    auto fd = FileHandle::open(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd) return fd.failure();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd->get(), bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        ::unlink(tmp.c_str());
        return os_failure(err, tmp.string(), fmt::format("write at offset {}", done));
      }
      done += static_cast<std::size_t>(n);
    }
    int err = faults != nullptr ? faults->on_sync(tmp.string()) : 0;
    if (err == 0 && ::fsync(fd->get()) != 0) err = errno;
    if (err != 0) {
      ::unlink(tmp.c_str());
      return os_failure(err, tmp.string(), "fsync");
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return os_failure(errno, path.string(), "rename from " + tmp.filename().string());
  }
  return sync_directory(path.parent_path().empty() ? "." : path.parent_path());
}

Result<std::vector<std::byte>> read_file(const std::filesystem::path& path) {
  auto fd = FileHandle::open(path, O_RDONLY);
  if (!fd) return fd.failure();
  std::vector<std::byte> out;
  std::byte buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd->get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_failure(errno, path.string(), fmt::format("read at offset {}", out.size()));
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
  }
  return out;
}

}  // namespace switchyard::detail
