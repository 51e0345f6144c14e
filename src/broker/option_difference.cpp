#include "broker/option_difference.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/transport.hpp"

namespace switchyard::detail {

namespace {

// --- counting an aggregate's fields, to keep the lists below complete --------------------

/// Converts to any field type (declared only: used in unevaluated `requires` expressions).
struct AnyField {
  template <class U>
  operator U() const;  // NOLINT: implicit by design
};

/// How many initializers `T{...}` takes: its number of fields (nested aggregates count once,
/// since an `AnyField` initializes one without brace elision).
template <class T, class... Fields>
constexpr std::size_t field_count() {
  if constexpr (requires { T{Fields{}..., AnyField{}}; }) {
    return field_count<T, Fields..., AnyField>();
  } else {
    return sizeof...(Fields);
  }
}

#define SWITCHYARD_OPTION_FIELDS(Type, n)                                       \
  static_assert(field_count<Type>() == (n), #Type                               \
                " gained or lost a field: list it in compare() in "             \
                "src/broker/option_difference.cpp (and update this count), or " \
                "re-declaring would ignore it")

SWITCHYARD_OPTION_FIELDS(QueueOptions, 23);
SWITCHYARD_OPTION_FIELDS(Backoff, 6);
SWITCHYARD_OPTION_FIELDS(TopicOptions, 9);
SWITCHYARD_OPTION_FIELDS(StorageOptions, 4);
SWITCHYARD_OPTION_FIELDS(Retention, 3);
SWITCHYARD_OPTION_FIELDS(ExchangeOptions, 3);
#undef SWITCHYARD_OPTION_FIELDS

// --- values as a user would write them ---------------------------------------------------

std::string show(std::uint64_t v) {
  return std::to_string(v);
}
std::string show(std::uint32_t v) {
  return std::to_string(v);
}
std::string show(std::uint8_t v) {
  return std::to_string(unsigned{v});
}
std::string show(bool v) {
  return v ? "true" : "false";
}
std::string show(double v) {
  std::string s = std::to_string(v);  // "2.000000": trim the zeros a user would not write
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
std::string show(const std::string& v) {
  return "'" + v + "'";
}
/// A duration in the largest unit that states it exactly ("30s", "250ms", "max").
std::string show(Duration v) {
  if (v == Duration::max()) return "max";
  const auto ns = v.count();
  struct Unit {
    std::int64_t ns;
    const char* suffix;
  };
  constexpr Unit units[] = {{3'600'000'000'000, "h"}, {60'000'000'000, "min"}, {1'000'000'000, "s"},
                            {1'000'000, "ms"},        {1'000, "us"},           {1, "ns"}};
  for (const Unit& unit : units) {
    if (ns != 0 && ns % unit.ns == 0) return std::to_string(ns / unit.ns) + unit.suffix;
  }
  return "0s";
}
/// A list of delays as a user would write it: "[1s, 5s, 30s]".
std::string show(const std::vector<Duration>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i != 0) out.append(", ");
    out.append(show(v[i]));
  }
  return out + "]";
}
std::string show(Durability v) {
  return std::string(to_string(v));
}
std::string show(Overflow v) {
  switch (v) {
    case Overflow::block:
      return "block";
    case Overflow::reject:
      return "reject";
    case Overflow::drop_oldest:
      return "drop_oldest";
  }
  return std::to_string(static_cast<unsigned>(v));
}
std::string show(Preallocate v) {
  switch (v) {
    case Preallocate::inherit:
      return "inherit";
    case Preallocate::grow:
      return "grow";
    case Preallocate::full:
      return "full";
  }
  return std::to_string(static_cast<unsigned>(v));
}
std::string show(OnExpiry v) {
  switch (v) {
    case OnExpiry::dead_letter:
      return "dead_letter";
    case OnExpiry::drop:
      return "drop";
  }
  return std::to_string(static_cast<unsigned>(v));
}
std::string show(Cleanup v) {
  switch (v) {
    case Cleanup::delete_records:
      return "delete_records";
    case Cleanup::compact:
      return "compact";
    case Cleanup::compact_delete:
      return "compact_delete";
  }
  return "?";
}
std::string show(Unroutable v) {
  switch (v) {
    case Unroutable::drop:
      return "drop";
    case Unroutable::error:
      return "error";
    case Unroutable::alternate:
      return "alternate";
  }
  return std::to_string(static_cast<unsigned>(v));
}
std::string show(ExchangeType v) {
  switch (v) {
    case ExchangeType::direct:
      return "direct";
    case ExchangeType::topic:
      return "topic";
    case ExchangeType::fanout:
      return "fanout";
    case ExchangeType::headers:
      return "headers";
  }
  return std::to_string(static_cast<unsigned>(v));
}

std::string show(const std::shared_ptr<Transport>& v) {
  return v ? std::string(v->name()) : std::string("this process");
}

/// Visits option pairs in order and keeps the first that differs.
struct FirstDifference {
  std::string found;

  template <class V>
  void operator()(std::string_view name, const V& declared, const V& asked) {
    if (!found.empty() || declared == asked) return;
    found = std::string(name) + "=" + show(declared) + ", asked for " + show(asked);
  }
};

// --- each options struct's fields, once, in declaration order ----------------------------

void compare(const Backoff& a, const Backoff& b, FirstDifference& f) {
  f("retry_backoff.initial", a.initial, b.initial);
  f("retry_backoff.multiplier", a.multiplier, b.multiplier);
  f("retry_backoff.max", a.max, b.max);
  f("retry_backoff.increment", a.increment, b.increment);
  f("retry_backoff.delays", a.delays, b.delays);
  f("retry_backoff.jitter", a.jitter, b.jitter);
}

void compare(const StorageOptions& a, const StorageOptions& b, FirstDifference& f) {
  f("storage.segment_bytes", a.segment_bytes, b.segment_bytes);
  f("storage.preallocate", a.preallocate, b.preallocate);
  f("storage.flush_interval", a.flush_interval, b.flush_interval);
  f("storage.flush_bytes", a.flush_bytes, b.flush_bytes);
}

void compare(const QueueOptions& a, const QueueOptions& b, FirstDifference& f) {
  f("capacity", a.capacity, b.capacity);
  f("overflow", a.overflow, b.overflow);
  f("send_timeout", a.send_timeout, b.send_timeout);
  f("max_deliveries", a.max_deliveries, b.max_deliveries);
  f("dead_letter", a.dead_letter, b.dead_letter);
  f("dead_letter_routing_key", a.dead_letter_routing_key, b.dead_letter_routing_key);
  f("prefetch", a.prefetch, b.prefetch);
  f("visibility_timeout", a.visibility_timeout, b.visibility_timeout);
  compare(a.retry_backoff, b.retry_backoff, f);
  f("delay", a.delay, b.delay);
  f("ttl", a.ttl, b.ttl);
  f("on_expiry", a.on_expiry, b.on_expiry);
  f("dedup_window", a.dedup_window, b.dedup_window);
  f("max_priority", a.max_priority, b.max_priority);
  f("max_payload", a.max_payload, b.max_payload);
  f("max_length_bytes", a.max_length_bytes, b.max_length_bytes);
  f("single_active_consumer", a.single_active_consumer, b.single_active_consumer);
  f("durability", a.durability, b.durability);
  compare(a.storage, b.storage, f);
  f("exclusive", a.exclusive, b.exclusive);
  f("auto_delete", a.auto_delete, b.auto_delete);
  f("expires", a.expires, b.expires);
  f("transport", a.transport, b.transport);
}

void compare(const Retention& a, const Retention& b, FirstDifference& f) {
  f("retention.records", a.records, b.records);
  f("retention.bytes", a.bytes, b.bytes);
  f("retention.age", a.age, b.age);
}

void compare(const TopicOptions& a, const TopicOptions& b, FirstDifference& f) {
  f("partitions", a.partitions, b.partitions);
  compare(a.retention, b.retention, f);
  f("max_payload", a.max_payload, b.max_payload);
  f("durability", a.durability, b.durability);
  compare(a.storage, b.storage, f);
  f("dedup_window", a.dedup_window, b.dedup_window);
  f("cleanup", a.cleanup, b.cleanup);
  f("delete_retention", a.delete_retention, b.delete_retention);
  f("transport", a.transport, b.transport);
}

void compare(const ExchangeOptions& a, const ExchangeOptions& b, FirstDifference& f) {
  f("unroutable", a.unroutable, b.unroutable);
  f("alternate", a.alternate, b.alternate);
  f("transport", a.transport, b.transport);
}

}  // namespace

std::string option_difference(const QueueOptions& declared, const QueueOptions& asked) {
  FirstDifference f;
  compare(declared, asked, f);
  return std::move(f.found);
}

std::string option_difference(const TopicOptions& declared, const TopicOptions& asked) {
  FirstDifference f;
  compare(declared, asked, f);
  return std::move(f.found);
}

std::string option_difference(ExchangeType declared_type, const ExchangeOptions& declared,
                              ExchangeType asked_type, const ExchangeOptions& asked) {
  FirstDifference f;
  f("type", declared_type, asked_type);
  compare(declared, asked, f);
  return std::move(f.found);
}

}  // namespace switchyard::detail
