#include "durable/stored_message.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "switchyard/detail/deadline.hpp"
#include "switchyard/detail/message_body.hpp"

#include "storage/segment_format.hpp"
#include "util/access.hpp"

namespace switchyard::detail {

namespace {

constexpr std::size_t kShortMax = std::numeric_limits<std::uint16_t>::max();

/// A deadline moved onto another clock by `offset_ns`; 0 (none) stays none.
constexpr std::int64_t moved(std::int64_t deadline_ns, std::int64_t offset_ns) noexcept {
  return deadline_ns == 0 ? 0 : rebase_deadline(deadline_ns, offset_ns);
}

}  // namespace

MessageFields fields_of(const StoredMessage& m) noexcept {
  return {.id = m.id,
          .timestamp_ns = m.timestamp_ns,
          .sent_ns = m.timestamp_ns,
          .priority = m.priority,
          .key = m.key,
          .group = m.group,
          .headers = m.headers,
          .payload = m.payload,
          .deliver_after_ns = m.deliver_after_ns,
          .expires_at_ns = m.expires_at_ns,
          .created_ns = m.created_ns,
          .message_id = m.message_id,
          .dedup_id = m.dedup_id,
          // Stored wall-clock, and `sent_ns` is `timestamp_ns` here: moved by nothing.
          .dedup_until_ns = m.dedup_until_ns};
}

Result<MessageFields> fields_of(const Message& message, std::string& object_bytes) noexcept {
  const MessageBody& body = *Access::body(message);
  const Headers& headers = body.headers();
  MessageFields fields{.id = body.id,
                       .timestamp_ns = body.timestamp_ns,
                       .sent_ns = body.sent_ns,
                       .priority = body.priority,
                       .key = body.key(),
                       .group = body.group(),
                       .headers = std::span(headers.begin(), headers.end()),
                       .payload = body.payload(),
                       .deliver_after_ns = body.deliver_after_ns(),
                       .expires_at_ns = body.expires_at_ns(),
                       .created_ns = body.created_ns(),
                       .message_id = body.message_id(),
                       .dedup_id = {},  // a send option, not the message's: the owner sets it
                       .dedup_until_ns = 0};
  if (!message.has_object()) return fields;
  // An object payload is stored through its Codec: the one case that encodes to a buffer.
  try {
    auto encoded = message.encoded();
    if (!encoded) {
      return Result<MessageFields>(Errc::wrong_type,
                                   "a durable destination stores bytes, and this message's "
                                   "object has no Codec: " +
                                       encoded.message());
    }
    object_bytes = std::move(*encoded);
  } catch (const std::bad_alloc&) {
    return Result<MessageFields>(Errc::out_of_memory);
  }
  fields.payload = std::as_bytes(std::span(object_bytes));
  return fields;
}

namespace {
/// Whether `m` needs body version 2 (a producer-set timestamp or message id).
bool has_origin(const MessageFields& m) noexcept {
  return m.created_ns != 0 || !m.message_id.empty();
}
/// Whether `m` needs body version 3 (a dedup id; it carries the version-2 trailer too).
bool has_dedup(const MessageFields& m) noexcept {
  return !m.dedup_id.empty();
}
std::uint8_t version_of(const MessageFields& m) noexcept {
  if (has_dedup(m)) return stored_message::kBodyVersionWithDedup;
  return has_origin(m) ? stored_message::kBodyVersionWithOrigin : stored_message::kBodyVersion;
}
}  // namespace

std::size_t encoded_size(const MessageFields& m) noexcept {
  std::size_t n = stored_message::kFixedSize + m.key.size() + m.group.size() + m.payload.size();
  for (const auto& [name, value] : m.headers) n += 8 + name.size() + value.size();
  if (has_origin(m) || has_dedup(m)) n += stored_message::kTrailerFixedSize + m.message_id.size();
  if (has_dedup(m)) n += stored_message::kDedupTrailerFixedSize + m.dedup_id.size();
  return n;
}

void encode_into(const MessageFields& m, std::span<std::byte> out) noexcept {
  // Stored deadlines are wall-clock: moved by the distance between the two clocks at the send.
  const std::int64_t wall_minus_mono = m.timestamp_ns - m.sent_ns;
  std::byte* p = out.data();
  store<std::uint64_t>(p + 0, m.id);
  store<std::int64_t>(p + 8, m.timestamp_ns);
  store<std::int64_t>(p + 16, moved(m.deliver_after_ns, wall_minus_mono));
  store<std::int64_t>(p + 24, moved(m.expires_at_ns, wall_minus_mono));
  store<std::uint8_t>(p + 32, m.priority);
  store<std::uint8_t>(p + 33, version_of(m));
  store<std::uint16_t>(p + 34, static_cast<std::uint16_t>(m.headers.size()));
  store<std::uint32_t>(p + 36, static_cast<std::uint32_t>(m.key.size()));
  store<std::uint32_t>(p + 40, static_cast<std::uint32_t>(m.group.size()));
  store<std::uint32_t>(p + 44, static_cast<std::uint32_t>(m.payload.size()));
  p += stored_message::kFixedSize;
  auto put = [&p](const void* data, std::size_t n) {
    if (n != 0) std::memcpy(p, data, n);
    p += n;
  };
  put(m.key.data(), m.key.size());
  put(m.group.data(), m.group.size());
  for (const auto& [name, value] : m.headers) {
    store<std::uint32_t>(p, static_cast<std::uint32_t>(name.size()));
    store<std::uint32_t>(p + 4, static_cast<std::uint32_t>(value.size()));
    p += 8;
    put(name.data(), name.size());
    put(value.data(), value.size());
  }
  put(m.payload.data(), m.payload.size());
  if (has_origin(m) || has_dedup(m)) {
    store<std::int64_t>(p, m.created_ns);
    store<std::uint32_t>(p + 8, static_cast<std::uint32_t>(m.message_id.size()));
    p += stored_message::kTrailerFixedSize;
    put(m.message_id.data(), m.message_id.size());
  }
  if (has_dedup(m)) {
    store<std::int64_t>(p, moved(m.dedup_until_ns, wall_minus_mono));
    store<std::uint32_t>(p + 8, static_cast<std::uint32_t>(m.dedup_id.size()));
    p += stored_message::kDedupTrailerFixedSize;
    put(m.dedup_id.data(), m.dedup_id.size());
  }
}

void encode(const MessageFields& fields, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  out.resize(start + encoded_size(fields));
  encode_into(fields, std::span(out).subspan(start));
}

Result<std::uint64_t> append_stored(SegmentLog& log, const MessageFields& fields,
                                    Completion done) noexcept {
  if (fields.headers.size() > kShortMax) {
    return Result<std::uint64_t>(Errc::invalid_argument,
                                 "a durable record holds at most 65535 headers, this message has " +
                                     std::to_string(fields.headers.size()));
  }
  // Straight into the segment mapping, under the log's append lock: no copy in between.
  auto write = [&fields](std::span<std::byte> out) noexcept { encode_into(fields, out); };
  return log.append_in_place(encoded_size(fields), fields.timestamp_ns, write, std::move(done));
}

Result<Message> to_message(const StoredMessage& s, std::int64_t mono_minus_wall_ns) {
  if (s.key.size() > kShortMax || s.group.size() > kShortMax) {
    return Result<Message>(Errc::corrupt, "stored message " + std::to_string(s.id) +
                                              " has a key or group longer than 65535 bytes");
  }
  const bool with_extras = !s.headers.empty() || s.deliver_after_ns != 0 || s.expires_at_ns != 0 ||
                           s.created_ns != 0 || !s.message_id.empty();
  MessageBody* body = MessageBody::create(s.key, s.group, s.payload, with_extras);
  Message message = Access::adopt(body);  // owns it from here (frees it on a throw)
  body->id = s.id;
  body->timestamp_ns = s.timestamp_ns;
  body->sent_ns = saturating_add(s.timestamp_ns, mono_minus_wall_ns);  // TTLs count from the send
  body->priority = s.priority;
  if (with_extras) {
    MessageExtras& extras = body->mutable_extras();
    extras.headers = Headers(s.headers);
    extras.deliver_after_ns = moved(s.deliver_after_ns, mono_minus_wall_ns);
    extras.expires_at_ns = moved(s.expires_at_ns, mono_minus_wall_ns);
    extras.created_ns = s.created_ns;  // wall clock, as the producer set it: not moved
    extras.message_id = s.message_id;
  }
  return message;
}

Result<StoredMessage> decode_stored_message(std::span<const std::byte> body) {
  if (body.size() < stored_message::kFixedSize) {
    return Failure{Errc::corrupt, fmt::format("message body is {} bytes, shorter than its "
                                              "{}-byte fixed part",
                                              body.size(), stored_message::kFixedSize)};
  }
  const std::byte* p = body.data();
  const auto version = load<std::uint8_t>(p + 33);
  if (version < stored_message::kBodyVersion || version > stored_message::kBodyVersionWithDedup) {
    return Failure{Errc::corrupt,
                   fmt::format("message body version {} (this build reads {} to {})", version,
                               stored_message::kBodyVersion,
                               stored_message::kBodyVersionWithDedup)};
  }
  StoredMessage m;
  m.id = load<std::uint64_t>(p + 0);
  m.timestamp_ns = load<std::int64_t>(p + 8);
  m.deliver_after_ns = load<std::int64_t>(p + 16);
  m.expires_at_ns = load<std::int64_t>(p + 24);
  m.priority = load<std::uint8_t>(p + 32);
  const auto header_count = load<std::uint16_t>(p + 34);
  const auto key_size = load<std::uint32_t>(p + 36);
  const auto group_size = load<std::uint32_t>(p + 40);
  const auto payload_size = load<std::uint32_t>(p + 44);

  std::size_t pos = stored_message::kFixedSize;
  std::string bad;
  auto take = [&](std::size_t n, const char* what) -> const std::byte* {
    if (!bad.empty()) return nullptr;
    if (n > body.size() - pos) {
      bad = fmt::format("{} of {} bytes at body offset {} runs past the body's {} bytes", what, n,
                        pos, body.size());
      return nullptr;
    }
    const std::byte* at = body.data() + pos;
    pos += n;
    return at;
  };
  auto text = [](const std::byte* at, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(at), n);
  };
  if (const auto* at = take(key_size, "key")) m.key = text(at, key_size);
  if (const auto* at = take(group_size, "group")) m.group = text(at, group_size);
  m.headers.reserve(std::min<std::size_t>(header_count, body.size() / 8));
  for (std::uint16_t i = 0; i < header_count && bad.empty(); ++i) {
    const std::byte* lengths = take(8, "header lengths");
    if (lengths == nullptr) break;
    const auto name_size = load<std::uint32_t>(lengths);
    const auto value_size = load<std::uint32_t>(lengths + 4);
    const std::byte* name = take(name_size, "header name");
    const std::byte* value = take(value_size, "header value");
    if (name != nullptr && value != nullptr) {
      m.headers.emplace_back(text(name, name_size), text(value, value_size));
    }
  }
  if (const auto* at = take(payload_size, "payload")) m.payload.assign(at, at + payload_size);
  if (version >= stored_message::kBodyVersionWithOrigin) {
    if (const auto* trailer = take(stored_message::kTrailerFixedSize, "created and message id")) {
      m.created_ns = load<std::int64_t>(trailer);
      const auto id_size = load<std::uint32_t>(trailer + 8);
      if (const auto* at = take(id_size, "message id")) m.message_id = text(at, id_size);
    }
  }
  if (version == stored_message::kBodyVersionWithDedup) {
    if (const auto* trailer = take(stored_message::kDedupTrailerFixedSize, "dedup window and id")) {
      m.dedup_until_ns = load<std::int64_t>(trailer);
      const auto id_size = load<std::uint32_t>(trailer + 8);
      if (const auto* at = take(id_size, "dedup id")) m.dedup_id = text(at, id_size);
    }
  }
  if (bad.empty() && pos != body.size()) {
    bad = fmt::format("{} trailing bytes after the payload", body.size() - pos);
  }
  if (!bad.empty()) return Failure{Errc::corrupt, "message body: " + bad};
  return m;
}

namespace {

/// The dedup trailer of a version-3 body, walking past the rest without copying it (the
/// recovery of a queue reads a whole window of records). Bounds-checked as the full decode;
/// `offset` is left 0.
Result<StoredDedup> decode_stored_dedup(std::span<const std::byte> body) {
  auto corrupt = [&](const char* what) {
    return Failure{Errc::corrupt, fmt::format("message body: {} runs past the body's {} bytes",
                                              what, body.size())};
  };
  const std::byte* p = body.data();
  std::uint64_t pos = stored_message::kFixedSize;  // the caller checked the fixed part is there
  auto skip = [&](std::uint64_t n) {
    if (n > body.size() - pos) return false;
    pos += n;
    return true;
  };
  const auto header_count = load<std::uint16_t>(p + 34);
  if (!skip(std::uint64_t{load<std::uint32_t>(p + 36)} + load<std::uint32_t>(p + 40))) {
    return corrupt("key and group");
  }
  for (std::uint16_t i = 0; i < header_count; ++i) {
    if (!skip(8)) return corrupt("header lengths");
    if (!skip(std::uint64_t{load<std::uint32_t>(p + pos - 8)} + load<std::uint32_t>(p + pos - 4))) {
      return corrupt("header");
    }
  }
  if (!skip(load<std::uint32_t>(p + 44))) return corrupt("payload");
  if (!skip(stored_message::kTrailerFixedSize)) return corrupt("created and message id");
  if (!skip(load<std::uint32_t>(p + pos - 4))) return corrupt("message id");
  if (!skip(stored_message::kDedupTrailerFixedSize)) return corrupt("dedup window and id");
  StoredDedup d;
  d.message_id = load<std::uint64_t>(p + 0);
  d.until_ns = load<std::int64_t>(p + pos - stored_message::kDedupTrailerFixedSize);
  const auto id_size = load<std::uint32_t>(p + pos - 4);
  const std::uint64_t at = pos;
  if (!skip(id_size)) return corrupt("dedup id");
  if (pos != body.size()) {
    return Failure{Errc::corrupt,
                   fmt::format("message body: {} trailing bytes after the payload",
                               body.size() - pos)};
  }
  d.id.assign(reinterpret_cast<const char*>(p + at), id_size);
  return d;
}

}  // namespace

Result<std::vector<StoredDedup>> collect_stored_dedup(const SegmentLog& log, std::uint64_t from,
                                                     std::int64_t now_wall_ns) {
  std::vector<StoredDedup> out;
  from = std::max(from, log.start_offset());
  for (;;) {
    auto batch = log.read(from, 4096);
    if (!batch) return batch.failure();
    if (batch->records.empty()) break;
    for (const auto& record : batch->records) {
      // Only a send with a dedup id writes version 3: the others are skipped undecoded.
      if (record.body.size() < stored_message::kFixedSize ||
          load<std::uint8_t>(record.body.data() + 33) != stored_message::kBodyVersionWithDedup) {
        continue;
      }
      auto d = decode_stored_dedup(record.body);
      if (!d) {
        return Failure{Errc::corrupt,
                       fmt::format("{}: record at offset {}: {}", log.directory().string(),
                                   record.offset, d.message())};
      }
      if (d->until_ns <= now_wall_ns) continue;  // its window ended before the reopen
      d->offset = record.offset;
      out.push_back(std::move(*d));
    }
    from = batch->next_offset;
  }
  return out;
}

}  // namespace switchyard::detail
