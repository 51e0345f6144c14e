#include "storage/offset_checkpoint.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"
#include "util/crc32c.hpp"

namespace switchyard::detail {

using namespace checkpoint;

std::vector<std::byte> encode_checkpoint(const OffsetMap& offsets, std::uint64_t generation,
                                         const StorageOwner& owner) {
  std::size_t body = 0;
  for (const auto& [key, value] : offsets) {
    body += kEntryFixedSize + key.first.size() + value.metadata.size();
  }
  std::vector<std::byte> out(kHeaderSize + body + kTrailerSize);
  std::byte* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  store<std::uint16_t>(p + 8, kVersion);
  store<std::uint32_t>(p + 12, static_cast<std::uint32_t>(offsets.size()));
  store<std::uint64_t>(p + 16, generation);
  store<std::uint32_t>(p + 24, static_cast<std::uint32_t>(body));
  write_owner(std::span(out).subspan(kOwnerOffset, owner_block::kSize), owner);
  p += kHeaderSize;
  for (const auto& [key, value] : offsets) {
    store<std::uint32_t>(p, static_cast<std::uint32_t>(key.first.size()));
    store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(value.metadata.size()));
    store<std::uint32_t>(p + 8, key.second);
    store<std::uint64_t>(p + 16, value.offset);
    p += kEntryFixedSize;
    if (!key.first.empty()) std::memcpy(p, key.first.data(), key.first.size());
    p += key.first.size();
    if (!value.metadata.empty()) std::memcpy(p, value.metadata.data(), value.metadata.size());
    p += value.metadata.size();
  }
  const std::uint32_t crc = crc32c(std::span(out).first(kHeaderSize + body));
  store<std::uint32_t>(p, crc);
  return out;
}

Result<DecodedCheckpoint> decode_checkpoint(std::span<const std::byte> file,
                                            std::string_view path) {
  auto corrupt = [&](std::size_t offset, std::string what) -> Failure {
    return Failure{Errc::corrupt, fmt::format("{}: offset {}: {}", path, offset, what)};
  };
  if (file.size() < kVersion1HeaderSize + kTrailerSize) {
    return corrupt(0,
                   fmt::format("file is {} bytes, shorter than an empty checkpoint", file.size()));
  }
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    return corrupt(0, "bad magic (not a switchyard checkpoint)");
  }
  const auto version = load<std::uint16_t>(file.data() + 8);
  if (version < kOldestVersion || version > kVersion) {
    return corrupt(8, fmt::format("unsupported version {} (this build reads versions {} to {})",
                                  version, kOldestVersion, kVersion));
  }
  const std::size_t header_size = version == kOldestVersion ? kVersion1HeaderSize : kHeaderSize;
  if (file.size() < header_size + kTrailerSize) {
    return corrupt(0, fmt::format("file is {} bytes, shorter than an empty version {} checkpoint",
                                  file.size(), version));
  }
  const auto body = load<std::uint32_t>(file.data() + 24);
  if (body != file.size() - header_size - kTrailerSize) {
    return corrupt(
        24, fmt::format("body length {} does not match the file size {}", body, file.size()));
  }
  const std::size_t crc_at = header_size + body;
  if (crc32c(file.first(crc_at)) != load<std::uint32_t>(file.data() + crc_at)) {
    return corrupt(crc_at, "CRC mismatch");
  }
  DecodedCheckpoint out;
  out.version = version;
  out.generation = load<std::uint64_t>(file.data() + 16);
  if (version >= kVersion) out.owner = read_owner(file.subspan(kOwnerOffset, owner_block::kSize));
  const auto count = load<std::uint32_t>(file.data() + 12);
  std::size_t pos = header_size;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (crc_at - pos < kEntryFixedSize) return corrupt(pos, "entry header past the body");
    const std::byte* p = file.data() + pos;
    const auto group_size = load<std::uint32_t>(p);
    const auto meta_size = load<std::uint32_t>(p + 4);
    const auto partition = load<std::uint32_t>(p + 8);
    const auto offset = load<std::uint64_t>(p + 16);
    pos += kEntryFixedSize;
    if (std::uint64_t{group_size} + meta_size > crc_at - pos) {
      return corrupt(pos - kEntryFixedSize, "entry strings run past the body");
    }
    std::string group(reinterpret_cast<const char*>(file.data() + pos), group_size);
    pos += group_size;
    std::string meta(reinterpret_cast<const char*>(file.data() + pos), meta_size);
    pos += meta_size;
    out.offsets[{std::move(group), partition}] = CommittedOffset{offset, std::move(meta)};
  }
  if (pos != crc_at)
    return corrupt(pos, fmt::format("{} bytes after the last entry", crc_at - pos));
  return out;
}

std::filesystem::path OffsetCheckpoint::file_for(std::uint64_t generation) const {
  return dir_ / fmt::format("{}-{:020}.ckpt", name_, generation);
}

Result<OffsetCheckpoint> OffsetCheckpoint::open(const std::filesystem::path& dir, std::string name,
                                                FaultInjector* faults, StorageOwner owner) {
  OffsetCheckpoint cp(dir, std::move(name), faults, std::move(owner));
  if (auto made = make_directories(dir, faults); !made) return made.failure();
  auto entries = list_directory(dir, faults);
  if (!entries) return entries.failure();
  std::vector<std::uint64_t> gens;
  const std::string prefix = cp.name_ + "-";
  for (const auto& entry : *entries) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(prefix) || !file.ends_with(".ckpt")) continue;
    std::uint64_t gen = 0;
    const char* first = file.data() + prefix.size();
    const char* last = file.data() + file.size() - 5;
    const auto [end, err] = std::from_chars(first, last, gen);
    if (err == std::errc() && end == last) gens.push_back(gen);
  }
  std::sort(gens.rbegin(), gens.rend());
  for (const std::uint64_t gen : gens) {
    const auto path = cp.file_for(gen);
    auto bytes = read_file(path, faults);
    Result<DecodedCheckpoint> decoded = bytes ? decode_checkpoint(*bytes, path.string())
                                              : Result<DecodedCheckpoint>(bytes.failure());
    if (decoded && decoded->generation != gen) {
      decoded = Failure{Errc::corrupt, fmt::format("{}: offset 16: generation {} does not match "
                                                   "the file name",
                                                   path.string(), decoded->generation)};
    }
    if (!decoded) {
      cp.recovery_.damaged.push_back(decoded.message());
      continue;
    }
    // Another owner's checkpoint is not damage to fall back from: refuse the directory.
    if (decoded->version >= kVersion) {
      if (auto status = check_owner(decoded->owner, cp.owner_, path.string(), kOwnerOffset);
          !status) {
        return status.failure();
      }
    }
    cp.offsets_ = std::move(decoded->offsets);
    cp.generation_ = gen;
    cp.recovery_.generation = gen;
    cp.recovery_.fell_back = !cp.recovery_.damaged.empty();
    return cp;
  }
  if (!cp.recovery_.damaged.empty()) {
    std::string all;
    for (const auto& d : cp.recovery_.damaged) all += (all.empty() ? "" : "; ") + d;
    return Failure{Errc::corrupt, "no valid offset checkpoint: " + all};
  }
  return cp;
}

Status OffsetCheckpoint::commit(const OffsetMap& offsets) {
  const std::uint64_t gen = generation_ + 1;
  const auto bytes = encode_checkpoint(offsets, gen, owner_);
  if (auto status = write_file_atomically(file_for(gen), bytes, faults_); !status) return status;
  offsets_ = offsets;
  generation_ = gen;
  // Keep the previous generation as the fallback; older ones (and damaged newer debris) go.
  // Best effort: a file left behind is removed by the next commit.
  auto entries = list_directory(dir_, faults_);
  if (!entries) return {};
  const std::string prefix = name_ + "-";
  for (const auto& entry : *entries) {
    const auto path = entry.path();
    const std::string file = path.filename().string();
    if (file.starts_with(prefix) && file.ends_with(".ckpt") && path != file_for(gen) &&
        path != file_for(gen - 1)) {
      (void)remove_file(path, faults_);
    }
  }
  return {};
}

}  // namespace switchyard::detail
