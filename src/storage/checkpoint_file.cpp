#include "storage/checkpoint_file.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "storage/segment_format.hpp"
#include "util/crc32c.hpp"

namespace switchyard::detail {

using namespace checkpoint;

Failure CheckpointImage::corrupt(std::size_t file_offset, std::string_view what) const {
  return Failure{Errc::corrupt, fmt::format("{}: offset {}: {}", path, file_offset, what)};
}

void CheckpointEntryWriter::add(const CheckpointEntry& entry) {
  using checkpoint_entry::kFixedSize;
  std::vector<std::byte>& bytes = records_.bytes;
  const std::size_t at = bytes.size();
  bytes.resize(at + kFixedSize + entry.name.size() + entry.text.size());  // zeroed: reserved
  std::byte* p = bytes.data() + at;
  store<std::uint32_t>(p, static_cast<std::uint32_t>(entry.name.size()));
  store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(entry.text.size()));
  store<std::uint32_t>(p + 8, entry.number);
  store<std::uint64_t>(p + 16, entry.value);
  p += kFixedSize;
  if (!entry.name.empty()) std::memcpy(p, entry.name.data(), entry.name.size());
  p += entry.name.size();
  if (!entry.text.empty()) std::memcpy(p, entry.text.data(), entry.text.size());
  ++records_.count;
}

Result<std::vector<CheckpointEntry>> decode_entries(const CheckpointImage& image) {
  using checkpoint_entry::kFixedSize;
  const std::span<const std::byte> body = image.records;
  const std::size_t at = image.records_at;  // file offset of body[0], for messages
  auto text = [&](std::size_t pos, std::uint32_t size) {
    return std::string_view(reinterpret_cast<const char*>(body.data() + pos), size);
  };
  std::vector<CheckpointEntry> out;
  out.reserve(std::min<std::size_t>(image.record_count, body.size() / kFixedSize));
  std::size_t pos = 0;
  for (std::uint32_t i = 0; i < image.record_count; ++i) {
    if (body.size() - pos < kFixedSize)
      return image.corrupt(at + pos, "entry header past the body");
    const std::byte* p = body.data() + pos;
    const auto name_size = load<std::uint32_t>(p);
    const auto text_size = load<std::uint32_t>(p + 4);
    CheckpointEntry entry{{}, {}, load<std::uint32_t>(p + 8), load<std::uint64_t>(p + 16)};
    pos += kFixedSize;
    if (std::uint64_t{name_size} + text_size > body.size() - pos) {
      return image.corrupt(at + pos - kFixedSize, "entry strings run past the body");
    }
    entry.name = text(pos, name_size);
    entry.text = text(pos + name_size, text_size);
    pos += name_size + text_size;
    out.push_back(entry);
  }
  if (pos != body.size()) {
    return image.corrupt(at + pos, fmt::format("{} bytes after the last entry", body.size() - pos));
  }
  return out;
}

std::vector<std::byte> encode_checkpoint_file(const CheckpointRecords& records,
                                              std::uint64_t generation, const StorageOwner& owner) {
  const std::size_t body = records.bytes.size();
  std::vector<std::byte> out(kHeaderSize + body + kTrailerSize);
  std::byte* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  store<std::uint16_t>(p + kVersionOffset, kVersion);
  store<std::uint32_t>(p + kRecordCountOffset, records.count);
  store<std::uint64_t>(p + kGenerationOffset, generation);
  store<std::uint32_t>(p + kBodyLengthOffset, static_cast<std::uint32_t>(body));
  write_owner(std::span(out).subspan(kOwnerOffset, owner_block::kSize), owner);
  if (body != 0) std::memcpy(p + kHeaderSize, records.bytes.data(), body);
  const std::uint32_t crc = crc32c(std::span(out).first(kHeaderSize + body));
  store<std::uint32_t>(p + kHeaderSize + body, crc);
  return out;
}

Result<CheckpointImage> decode_checkpoint_file(std::span<const std::byte> file,
                                               std::string_view path) {
  CheckpointImage out;
  out.path = path;
  if (file.size() < kVersion1HeaderSize + kTrailerSize) {
    return out.corrupt(
        0, fmt::format("file is {} bytes, shorter than an empty checkpoint", file.size()));
  }
  if (std::memcmp(file.data(), kMagic, sizeof kMagic) != 0) {
    return out.corrupt(0, "bad magic (not a switchyard checkpoint)");
  }
  const auto version = load<std::uint16_t>(file.data() + kVersionOffset);
  if (version < kOldestVersion || version > kVersion) {
    return out.corrupt(kVersionOffset,
                       fmt::format("unsupported version {} (this build reads versions {} to {})",
                                   version, kOldestVersion, kVersion));
  }
  const std::size_t header_size = version == kOldestVersion ? kVersion1HeaderSize : kHeaderSize;
  if (file.size() < header_size + kTrailerSize) {
    return out.corrupt(
        0, fmt::format("file is {} bytes, shorter than an empty version {} checkpoint", file.size(),
                       version));
  }
  const auto body = load<std::uint32_t>(file.data() + kBodyLengthOffset);
  if (body != file.size() - header_size - kTrailerSize) {
    return out.corrupt(
        kBodyLengthOffset,
        fmt::format("body length {} does not match the file size {}", body, file.size()));
  }
  const std::size_t crc_at = header_size + body;
  if (crc32c(file.first(crc_at)) != load<std::uint32_t>(file.data() + crc_at)) {
    return out.corrupt(crc_at, "CRC mismatch");
  }
  out.version = version;
  out.generation = load<std::uint64_t>(file.data() + kGenerationOffset);
  if (version >= kVersion) out.owner = read_owner(file.subspan(kOwnerOffset, owner_block::kSize));
  out.record_count = load<std::uint32_t>(file.data() + kRecordCountOffset);
  out.records = file.subspan(header_size, body);
  out.records_at = header_size;
  return out;
}

std::filesystem::path CheckpointFile::file_for(std::uint64_t generation) const {
  return dir_ / fmt::format("{}-{:020}.ckpt", name_, generation);
}

Result<std::vector<std::uint64_t>> CheckpointFile::generations() const {
  auto entries = list_directory(dir_, faults_);
  if (!entries) return entries.failure();
  std::vector<std::uint64_t> gens;
  const std::string prefix = name_ + "-";
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
  return gens;
}

Result<CheckpointImage> CheckpointFile::load(std::uint64_t gen, std::vector<std::byte>& bytes,
                                             const Decoder& decode) const {
  const auto path = file_for(gen);
  auto read = read_file(path, faults_);
  if (!read) return read.failure();
  bytes = std::move(*read);
  const std::string name = path.string();
  auto image = decode_checkpoint_file(bytes, name);
  if (!image) return image.failure();
  if (auto decoded = decode(*image); !decoded) return decoded.failure();
  if (image->generation != gen) {
    return image->corrupt(
        kGenerationOffset,
        fmt::format("generation {} does not match the file name", image->generation));
  }
  image->path = {};  // `name` dies here; the caller has the path
  return image;
}

Result<CheckpointFile> CheckpointFile::open(const std::filesystem::path& dir, std::string name,
                                            FaultInjector* faults, StorageOwner owner,
                                            std::string_view what, const Decoder& decode) {
  CheckpointFile cp(dir, std::move(name), faults, std::move(owner));
  if (auto made = make_directories(dir, faults); !made) return made.failure();
  auto gens = cp.generations();
  if (!gens) return gens.failure();
  std::vector<std::byte> bytes;
  for (const std::uint64_t gen : *gens) {
    auto image = cp.load(gen, bytes, decode);
    if (!image) {
      cp.recovery_.damaged.push_back(image.message());
      continue;
    }
    // Another owner's checkpoint is not damage to fall back from: refuse the directory.
    if (image->version >= kVersion) {
      if (auto status =
              check_owner(image->owner, cp.owner_, cp.file_for(gen).string(), kOwnerOffset);
          !status) {
        return status.failure();
      }
    }
    cp.generation_ = gen;
    cp.recovery_.generation = gen;
    cp.recovery_.fell_back = !cp.recovery_.damaged.empty();
    return cp;
  }
  if (!cp.recovery_.damaged.empty()) {
    std::string all;
    for (const auto& d : cp.recovery_.damaged) all += (all.empty() ? "" : "; ") + d;
    return Failure{Errc::corrupt, fmt::format("no valid {} checkpoint: {}", what, all)};
  }
  return cp;
}

Status CheckpointFile::commit(const CheckpointRecords& records) {
  const std::uint64_t gen = generation_ + 1;
  const auto bytes = encode_checkpoint_file(records, gen, owner_);
  if (auto status = write_file_atomically(file_for(gen), bytes, faults_); !status) return status;
  generation_ = gen;
  remove_older_than_previous(gen);
  return {};
}

void CheckpointFile::remove_older_than_previous(std::uint64_t gen) const {
  // Keep the previous generation as the fallback; older ones (and damaged newer debris) go.
  // Best effort: a file left behind is removed by the next commit.
  auto entries = list_directory(dir_, faults_);
  if (!entries) return;
  const std::string prefix = name_ + "-";
  for (const auto& entry : *entries) {
    const auto path = entry.path();
    const std::string file = path.filename().string();
    if (file.starts_with(prefix) && file.ends_with(".ckpt") && path != file_for(gen) &&
        path != file_for(gen - 1)) {
      (void)remove_file(path, faults_);
    }
  }
}

}  // namespace switchyard::detail
