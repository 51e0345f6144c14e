#include "inspect/pending.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include "inspect/stream.hpp"
#include "storage/storage_owner.hpp"

namespace switchyard::inspect {

using namespace switchyard::detail;

namespace {

/// A private directory under $TMPDIR, removed with its contents when the object dies.
class TemporaryDirectory {
 public:
  static Result<TemporaryDirectory> make() {
    std::error_code ec;
    std::string pattern = (fs::temp_directory_path(ec) / "switchyard-inspect-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return os_failure(errno, pattern, "mkdtemp (pending copies the queue's journal there)");
    }
    return TemporaryDirectory(pattern);
  }
  TemporaryDirectory(TemporaryDirectory&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  TemporaryDirectory& operator=(TemporaryDirectory&&) = delete;
  ~TemporaryDirectory() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  explicit TemporaryDirectory(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

/// Copies `from` to `to`: the bytes up to the last non-zero one, the rest a hole of the same
/// size (what reads as zeros in a fallocated segment reads as zeros in the copy).
Status copy_sparse(const fs::path& from, const fs::path& to) {
  auto image = open_image(from);
  if (!image) return image.failure();
  const auto bytes = image->bytes();
  std::size_t end = bytes.size();
  while (end > 0 && bytes[end - 1] == std::byte{0}) --end;
  auto out = FileHandle::open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (!out) return out.failure();
  for (std::size_t at = 0; at < end;) {
    const ssize_t n = ::write(out->get(), bytes.data() + at, end - at);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_failure(errno, to.string(), "write");
    }
    at += static_cast<std::size_t>(n);
  }
  if (auto sized = truncate(out->get(), to.string(), bytes.size()); !sized) return sized;
  return out->close(to.string());
}

/// Copies the directory tree `from` (segments sparsely, anything else as it is) to `to`.
Status copy_tree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return os_failure(ec.value(), to.string(), "mkdir");
  for (const auto& e : fs::directory_iterator(from, ec)) {
    const fs::path target = to / e.path().filename();
    if (e.is_directory(ec)) {
      if (auto s = copy_tree(e.path(), target); !s) return s;
    } else if (e.is_regular_file(ec)) {
      if (auto s = copy_sparse(e.path(), target); !s) return s;
    }
  }
  if (ec) return os_failure(ec.value(), from.string(), "list directory");
  return {};
}

/// `line` with the copy's path replaced by the data directory's.
std::string in_data_directory(std::string line, const std::string& copy, const std::string& dir) {
  for (std::size_t at = line.find(copy); at != std::string::npos; at = line.find(copy, at)) {
    line.replace(at, copy.size(), dir);
    at += dir.size();
  }
  return line;
}

}  // namespace

Result<PendingMessages> pending_messages(const StoredDestination& queue, bool salvage) {
  std::error_code ec;
  if (!fs::is_directory(queue.dir, ec)) {
    return Failure{Errc::io_error, fmt::format("{}: queue '{}' has no journal directory",
                                               queue.dir.string(), queue.name)};
  }
  auto temporary = TemporaryDirectory::make();
  if (!temporary) return temporary.failure();
  const fs::path copy = temporary->path() / "queue";
  if (auto copied = copy_tree(queue.dir, copy); !copied) return copied.failure();

  QueueJournalOptions options;
  options.log.durability = Durability::none;  // the copy is thrown away: nothing to sync
  options.log.salvage = salvage;
  // Smallest segments: an existing segment keeps its own size; a new one (an empty log, a
  // compaction's snapshot) costs next to nothing.
  options.log.segment_bytes = 4096;
  options.settlement_segment_bytes = 4096;
  options.log.owner = StorageOwner::of(OwnerKind::queue, StreamRole::records, queue.name, 0);
  auto journal = QueueJournal::open(copy, options);
  if (!journal) {
    return Failure{journal.code(),
                   in_data_directory(journal.message(), copy.string(), queue.dir.string())};
  }
  auto recovered = (*journal)->recover();
  if (!recovered) {
    return Failure{recovered.code(),
                   in_data_directory(recovered.message(), copy.string(), queue.dir.string())};
  }
  PendingMessages out;
  out.messages = std::move(*recovered);
  for (const auto* stats : {&(*journal)->message_recovery(), &(*journal)->settlement_recovery()}) {
    for (const auto& event : stats->events) {
      out.events.push_back(in_data_directory(event, copy.string(), queue.dir.string()));
    }
  }
  return out;
}

}  // namespace switchyard::inspect
