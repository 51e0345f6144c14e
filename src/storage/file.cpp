#include "storage/file.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace switchyard::detail {
namespace {

std::atomic<FaultInjector*> g_injector{nullptr};
/// `inject` calls between their load of g_injector and the return of its on_call: `install`
/// waits for them, so the injector it replaced is no longer in use when it returns (a flusher
/// thread's sync could otherwise call an injector its test had already destroyed).
std::atomic<std::uint32_t> g_calling{0};

/// Fails with `err` as the call itself would have: errno set, the caller reports it.
int injected(FaultInjector* local, const FileOp& op) noexcept {
  const int err = inject(local, op);
  if (err != 0) errno = err;
  return err;
}

}  // namespace

std::string_view to_string(FileCall call) noexcept {
  switch (call) {
    case FileCall::open:
      return "open";
    case FileCall::allocate:
      return "fallocate";
    case FileCall::truncate:
      return "ftruncate";
    case FileCall::map:
      return "mmap";
    case FileCall::msync:
      return "msync";
    case FileCall::fdatasync:
      return "fdatasync";
    case FileCall::fsync:
      return "fsync";
    case FileCall::rename:
      return "rename";
    case FileCall::sync_directory:
      return "directory fsync";
    case FileCall::unlink:
      return "unlink";
    case FileCall::close:
      return "close";
    case FileCall::mkdir:
      return "mkdir";
    case FileCall::list:
      return "list";
    case FileCall::read:
      return "read";
    case FileCall::write:
      return "write";
    case FileCall::lock:
      return "lock";
    case FileCall::stat:
      return "fstat";
  }
  return "?";
}

int FaultInjector::on_call(const FileOp& op) noexcept {
  switch (op.call) {
    case FileCall::allocate:
      return on_allocate(op.path, op.length);
    case FileCall::msync:
    case FileCall::fdatasync:
    case FileCall::fsync:
    case FileCall::sync_directory:
      return on_sync(op.path);
    default:
      return 0;
  }
}

void FaultInjector::install(FaultInjector* injector) noexcept {
  // Seq_cst store, then seq_cst loads of g_calling (Dekker with `inject`): a call that
  // counted itself before this store is waited for; one that counts itself after it loads the
  // new injector. The release of its decrement makes its on_call happen before our return.
  g_injector.store(injector, std::memory_order_seq_cst);
  while (g_calling.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

FaultInjector* FaultInjector::installed() noexcept {
  return g_injector.load(std::memory_order_acquire);  // pairs with install()
}

int inject(FaultInjector* local, const FileOp& op) noexcept {
  if (local != nullptr) return local->on_call(op);
  // No test hook installed (every call outside the fault tests): one load, nothing counted.
  if (g_injector.load(std::memory_order_relaxed) == nullptr) return 0;
  g_calling.fetch_add(1, std::memory_order_seq_cst);
  FaultInjector* injector = g_injector.load(std::memory_order_seq_cst);
  const int err = injector != nullptr ? injector->on_call(op) : 0;
  g_calling.fetch_sub(1, std::memory_order_release);
  return err;
}

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

Status FileHandle::close(std::string_view path, FaultInjector* faults) noexcept {
  if (fd_ < 0) return {};
  int err = inject(faults, {.call = FileCall::close, .path = path});
  if (::close(fd_) != 0 && err == 0) err = errno;  // the descriptor is gone either way
  fd_ = -1;
  if (err != 0) return os_failure(err, path, "close");
  return {};
}

Result<FileHandle> FileHandle::open(const std::filesystem::path& path, int flags, int mode,
                                    FaultInjector* faults) {
  const std::string name = path.string();
  if (injected(faults, {.call = FileCall::open, .path = name}) != 0) {
    return os_failure(errno, name, "open");
  }
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return os_failure(errno, name, "open");
  return FileHandle(fd);
}

Result<std::shared_ptr<Mapping>> Mapping::map(int fd, std::size_t size, bool writable,
                                              std::string path, FaultInjector* faults) {
  if (size == 0) return Failure{Errc::io_error, fmt::format("{}: cannot map an empty file", path)};
  void* p =
      injected(faults, {.call = FileCall::map, .path = path, .length = size}) != 0
          ? MAP_FAILED
          : ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return os_failure(errno, path, fmt::format("mmap of {} bytes", size));
  return std::shared_ptr<Mapping>(
      new Mapping(static_cast<std::byte*>(p), size, std::move(path), faults));
}

Mapping::~Mapping() {
  ::munmap(data_, size_);
}

int Mapping::sync(std::size_t from, std::size_t to) const noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (to > size_) to = size_;
  if (to <= from) return 0;
  // The injector sees the exact range (what a power-cut recorder keeps); msync gets pages.
  if (int err = inject(
          faults_, {.call = FileCall::msync, .path = path_, .offset = from, .length = to - from});
      err != 0) {
    return err;
  }
  from -= from % page;
  return ::msync(data_ + from, to - from, MS_SYNC) == 0 ? 0 : errno;
}

Status sync_directory(const std::filesystem::path& dir, FaultInjector* faults) {
  auto fd = FileHandle::open(dir, O_RDONLY | O_DIRECTORY, 0, faults);
  if (!fd) return fd.failure();
  const std::string name = dir.string();
  if (injected(faults, {.call = FileCall::sync_directory, .path = name}) != 0 ||
      ::fsync(fd->get()) != 0) {
    return os_failure(errno, name, "fsync of directory");
  }
  return fd->close(name, faults);
}

Status allocate(int fd, std::string_view path, std::uint64_t offset, std::uint64_t bytes,
                FaultInjector* faults) {
  int err =
      inject(faults, {.call = FileCall::allocate, .path = path, .offset = offset, .length = bytes});
  if (err == 0) {
    err = ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(bytes));
  }
  if (err != 0) {
    return os_failure(err, path, fmt::format("reserving {} bytes at {}", bytes, offset));
  }
  return {};
}

Result<std::size_t> file_size(int fd, std::string_view path, FaultInjector* faults) {
  struct stat st {};
  if (injected(faults, {.call = FileCall::stat, .path = path}) != 0 || ::fstat(fd, &st) != 0) {
    return os_failure(errno, path, "fstat");
  }
  return static_cast<std::size_t>(st.st_size);
}

Status truncate(int fd, std::string_view path, std::uint64_t size, FaultInjector* faults) {
  if (injected(faults, {.call = FileCall::truncate, .path = path, .length = size}) != 0 ||
      ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return os_failure(errno, path, fmt::format("truncate to {} bytes", size));
  }
  return {};
}

Status remove_file(const std::filesystem::path& path, FaultInjector* faults) {
  const std::string name = path.string();
  if (injected(faults, {.call = FileCall::unlink, .path = name}) != 0 ||
      (::unlink(path.c_str()) != 0 && errno != ENOENT)) {
    return os_failure(errno, name, "unlink");
  }
  return {};
}

Status remove_tree(const std::filesystem::path& path, FaultInjector* faults) {
  const std::string name = path.string();
  if (injected(faults, {.call = FileCall::unlink, .path = name}) != 0) {
    return os_failure(errno, name, "remove");
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Failure{Errc::io_error, fmt::format("{}: remove: {}", name, ec.message())};
  return {};
}

Status make_directories(const std::filesystem::path& dir, FaultInjector* faults) {
  const std::string name = dir.string();
  // The missing ancestors, outermost first: each new entry is made durable in its parent
  // (a directory created and never fsynced in its parent may vanish with a power cut, and
  // every file under it with it, however well synced).
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto p = dir; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (missing.empty()) return {};
  if (injected(faults, {.call = FileCall::mkdir, .path = name}) != 0) {
    return os_failure(errno, name, "create directory");
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
      return os_failure(errno, it->string(), "create directory");
    }
    const auto parent = it->parent_path();
    if (auto synced = sync_directory(parent.empty() ? "." : parent, faults); !synced) return synced;
  }
  return {};
}

Result<std::vector<std::filesystem::directory_entry>> list_directory(
    const std::filesystem::path& dir, FaultInjector* faults) {
  const std::string name = dir.string();
  if (injected(faults, {.call = FileCall::list, .path = name}) != 0) {
    return os_failure(errno, name, "list directory");
  }
  std::vector<std::filesystem::directory_entry> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(*it);
  }
  if (ec) return os_failure(ec.value(), name, "list directory");
  return out;
}

Status write_file(const std::filesystem::path& path, std::span<const std::byte> bytes,
                  FaultInjector* faults) {
  const std::string name = path.string();
  auto fd = FileHandle::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, faults);
  if (!fd) return fd.failure();
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = injected(faults, {.call = FileCall::write,
                                        .path = name,
                                        .offset = done,
                                        .length = bytes.size() - done}) != 0
                          ? -1
                          : ::write(fd->get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_failure(errno, name, fmt::format("write at offset {}", done));
    }
    done += static_cast<std::size_t>(n);
  }
  if (injected(faults, {.call = FileCall::fsync, .path = name}) != 0 || ::fsync(fd->get()) != 0) {
    return os_failure(errno, name, "fsync");
  }
  return fd->close(name, faults);
}

Status rename_file(const std::filesystem::path& from, const std::filesystem::path& to,
                   FaultInjector* faults) {
  const std::string from_name = from.string();
  const std::string to_name = to.string();
  if (injected(faults, {.call = FileCall::rename, .path = from_name, .to = to_name}) != 0 ||
      ::rename(from.c_str(), to.c_str()) != 0) {
    return os_failure(errno, to_name, "rename from " + from.filename().string());
  }
  return {};
}

Status write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes,
                             FaultInjector* faults) {
  auto tmp = path;
  tmp += ".tmp";
  auto fail = [&](Failure failure) -> Status {
    (void)::unlink(tmp.c_str());  // best effort: a leftover .tmp is ignored and overwritten
    return failure;
  };
  if (auto written = write_file(tmp, bytes, faults); !written) return fail(written.failure());
  if (auto renamed = rename_file(tmp, path, faults); !renamed) return fail(renamed.failure());
  return sync_directory(path.parent_path().empty() ? "." : path.parent_path(), faults);
}

Result<std::vector<std::byte>> read_file(const std::filesystem::path& path, FaultInjector* faults) {
  auto fd = FileHandle::open(path, O_RDONLY, 0, faults);
  if (!fd) return fd.failure();
  const std::string name = path.string();
  std::vector<std::byte> out;
  std::byte buffer[65536];
  for (;;) {
    const ssize_t n =
        injected(faults, {.call = FileCall::read, .path = name, .offset = out.size()}) != 0
            ? -1
            : ::read(fd->get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_failure(errno, name, fmt::format("read at offset {}", out.size()));
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
  }
  return out;
}

}  // namespace switchyard::detail
