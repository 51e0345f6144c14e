#include "inspect/record.hpp"

#include <fmt/format.h>

#include "durable/queue_journal.hpp"
#include "inspect/text.hpp"

namespace switchyard::inspect {

using namespace switchyard::detail;

namespace {

constexpr const char* kSettlementNames[] = {
    "?",     "delivered", "acked",   "dead_lettered",    "dropped",
    "floor", "live",      "horizon", "snapshot_complete"};

Shown where_of(const ShownRecord& where) {
  Shown s;
  if (where.partition) {
    s.json["partition"] = *where.partition;
    s.line = fmt::format("p{} ", *where.partition);
  }
  s.json["offset"] = where.offset;
  s.json["timestamp"] = format_time(where.timestamp_ns);
  s.json["timestamp_ns"] = where.timestamp_ns;
  s.line += fmt::format("offset {}  {}", where.offset, format_time(where.timestamp_ns));
  return s;
}

void put_payload(Shown& s, std::span<const std::byte> payload, PayloadFormat format) {
  s.json["payload_size"] = payload.size();
  switch (format) {
    case PayloadFormat::hex:
      s.json["payload_hex"] = hex(payload);
      s.line += fmt::format(" payload[{}]=hex:{}", payload.size(), hex(payload));
      return;
    case PayloadFormat::json: {
      const auto* text = reinterpret_cast<const char*>(payload.data());
      auto parsed = Json::parse(text, text + payload.size(), nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) {
        s.line += fmt::format(" payload[{}]={}", payload.size(), parsed.dump());
        s.json["payload_json"] = std::move(parsed);
        return;
      }
      s.json["payload_error"] = "not JSON";
      s.line += " (not JSON)";
      break;
    }
    case PayloadFormat::text:
      break;
  }
  s.json["payload"] = json_text(payload);
  s.line += fmt::format(" payload[{}]=\"{}\"", payload.size(), readable(payload));
}

}  // namespace

Shown show_message(const ShownRecord& where, const StoredMessage& m, PayloadFormat format) {
  Shown s = where_of(where);
  s.json["type"] = "message";
  s.json["id"] = m.id;
  s.json["key"] = json_text(m.key);
  s.line += fmt::format("  id={} key=\"{}\"", m.id, readable(m.key));
  if (!m.group.empty()) {
    s.json["group"] = json_text(m.group);
    s.line += fmt::format(" group=\"{}\"", readable(m.group));
  }
  if (m.priority != 0) {
    s.json["priority"] = m.priority;
    s.line += fmt::format(" priority={}", m.priority);
  }
  Json headers = Json::object();
  std::string header_text;
  for (const auto& [name, value] : m.headers) {
    headers[json_text(name)] = json_text(value);
    header_text += fmt::format("{}{}=\"{}\"", header_text.empty() ? "" : ", ", readable(name),
                               readable(value));
  }
  s.json["headers"] = std::move(headers);
  s.line += fmt::format(" headers={{{}}}", header_text);
  if (m.deliver_after_ns != 0) {
    s.json["deliver_after"] = format_time(m.deliver_after_ns);
    s.line += " deliver_after=" + format_time(m.deliver_after_ns);
  }
  if (m.expires_at_ns != 0) {
    s.json["expires_at"] = format_time(m.expires_at_ns);
    s.line += " expires_at=" + format_time(m.expires_at_ns);
  }
  if (where.attempts) {
    s.json["attempts"] = *where.attempts;
    s.line += fmt::format(" attempts={}", *where.attempts);
  }
  put_payload(s, m.payload, format);
  return s;
}

Shown show_record(const ShownRecord& where, std::span<const std::byte> body, PayloadFormat format) {
  if (auto m = decode_stored_message(body)) return show_message(where, *m, format);
  Shown s = where_of(where);
  if (auto settlement = decode_settlement(body)) {
    const char* name = kSettlementNames[static_cast<int>(settlement->kind)];
    s.json["type"] = "settlement";
    s.json["settlement"] = name;
    s.json["seq"] = settlement->seq;
    s.json["attempts"] = settlement->attempts;
    s.line += fmt::format("  settlement {} seq={} attempts={}", name, settlement->seq,
                          settlement->attempts);
    return s;
  }
  s.json["type"] = "bytes";
  s.line += "  bytes";
  put_payload(s, body, format);
  return s;
}

}  // namespace switchyard::inspect
