// The registry's message ids (the ids file). Design: registry.hpp.
#include "route/registry.hpp"

#include <cstring>
#include <span>

#include "storage/file.hpp"
#include "util/crc32c.hpp"

namespace switchyard::detail {

namespace {
// The ids file: "SWID", the high-water mark (u64 little-endian), crc32c of the 12 bytes before.
constexpr std::uint64_t kIdReservation = std::uint64_t{1} << 20;
constexpr std::size_t kIdFileBytes = 16;
constexpr char kIdMagic[4] = {'S', 'W', 'I', 'D'};

void put_le(std::byte* out, std::uint64_t v, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint64_t get_le(const std::byte* in, int bytes) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(std::to_integer<unsigned>(in[i])) << (8 * i);
  return v;
}
}  // namespace

void Registry::open_ids(const std::filesystem::path& dir,
                        std::shared_ptr<const void> data_dir_owner) {
  data_dir_owner_ = std::move(data_dir_owner);
  id_file_ = dir / "ids";
  std::uint64_t mark = 1;
  std::error_code ec;
  if (std::filesystem::exists(id_file_, ec)) {
    auto bytes = read_file(id_file_);
    if (!bytes) throw Error(bytes.code(), "message ids: " + bytes.message());
    const std::byte* b = bytes->data();
    if (bytes->size() != kIdFileBytes || std::memcmp(b, kIdMagic, 4) != 0 ||
        get_le(b + 12, 4) != crc32c(std::span(b, 12))) {
      throw Error(Errc::corrupt,
                  "message ids: " + id_file_.string() + " at offset 0: not a valid ids file");
    }
    mark = std::max<std::uint64_t>(get_le(b + 4, 8), 1);
  }
  next_id_.store(mark, std::memory_order_relaxed);
  id_limit_.store(mark, std::memory_order_release);
}

bool Registry::extend_ids(std::uint64_t needed) noexcept {
  MutexLock lock(id_mutex_);
  if (needed <= id_limit_.load(std::memory_order_relaxed)) return true;
  if (id_file_.empty()) return false;  // released (release_storage): id_failure_ says closed
  const std::uint64_t mark = needed + kIdReservation;
  std::byte bytes[kIdFileBytes];
  std::memcpy(bytes, kIdMagic, 4);
  put_le(bytes + 4, mark, 8);
  put_le(bytes + 12, crc32c(std::span<const std::byte>(bytes, 12)), 4);
  try {
    auto written = write_file_atomically(id_file_, bytes);
    if (!written) {
      id_failure_ = {written.code(), "message ids: " + written.message()};
      return false;
    }
  } catch (const std::bad_alloc&) {
    id_failure_ = {Errc::out_of_memory, "message ids: reserving a block"};
    return false;
  }
  id_limit_.store(mark, std::memory_order_release);
  return true;
}

void Registry::release_storage() noexcept {
  std::shared_ptr<const void> owner;
  {
    MutexLock lock(id_mutex_);
    // Every reservation from now on goes to extend_ids, which finds id_file_ empty and fails.
    id_limit_.store(0, std::memory_order_release);
    id_file_.clear();
    id_failure_ = {Errc::closed, "broker is shut down"};
    owner = std::move(data_dir_owner_);
  }
  // `owner` (the storage context, and with it the directory's lock) goes here, outside the lock.
}

Failure Registry::id_failure() const {
  MutexLock lock(id_mutex_);
  return id_failure_;
}

}  // namespace switchyard::detail
