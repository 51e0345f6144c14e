// switchyard/headers.hpp — a message's string headers.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

/// Name → value string pairs carried by a message (AMQP headers, Kafka record headers, SQS
/// message attributes). Immutable once built and shared, not copied, by every copy of a
/// message: copying a `Headers` is one reference-count increment, and an empty one allocates
/// nothing. Names are case-sensitive; a name appears at most once.
///
/// Thread-safety: a `Headers` value may be read from any number of threads at once.
class Headers {
 public:
  using value_type = std::pair<std::string, std::string>;
  using const_iterator = std::vector<value_type>::const_iterator;

  Headers() noexcept = default;
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> entries) {
    for (const auto& [name, value] : entries) set(name, value);
  }
  template <class Range>
    requires requires(const Range& r) { std::string_view(std::begin(r)->first); }
  explicit Headers(const Range& entries) {
    for (const auto& [name, value] : entries) set(name, value);
  }

  /// The value of `name`, if present.
  [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const noexcept {
    if (!list_) return std::nullopt;
    for (const auto& [n, v] : *list_) {
      if (n == name) return std::string_view(v);
    }
    return std::nullopt;
  }
  [[nodiscard]] bool contains(std::string_view name) const noexcept {
    return find(name).has_value();
  }
  /// The value of `name`, or `fallback` when absent.
  [[nodiscard]] std::string_view get(std::string_view name,
                                     std::string_view fallback = {}) const noexcept {
    return find(name).value_or(fallback);
  }

  /// A copy of these headers with `name` set to `value` (replacing an existing value).
  [[nodiscard]] Headers with(std::string_view name, std::string_view value) const {
    Headers copy;
    if (list_) copy.list_ = std::make_shared<std::vector<value_type>>(*list_);
    copy.set(name, value);
    return copy;
  }

  [[nodiscard]] std::size_t size() const noexcept { return list_ ? list_->size() : 0; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] const_iterator begin() const noexcept { return list_ ? list_->begin() : kEmpty().begin(); }
  [[nodiscard]] const_iterator end() const noexcept { return list_ ? list_->end() : kEmpty().end(); }

  friend bool operator==(const Headers& a, const Headers& b) noexcept {
    if (a.size() != b.size()) return false;
    return std::all_of(a.begin(), a.end(),
                       [&](const value_type& e) { return b.find(e.first) == e.second; });
  }

 private:
  static const std::vector<value_type>& kEmpty() noexcept {
    static const std::vector<value_type> empty;
    return empty;
  }
  // Only used while building (the list is not yet shared).
  void set(std::string_view name, std::string_view value) {
    if (!list_) list_ = std::make_shared<std::vector<value_type>>();
    auto& list = const_cast<std::vector<value_type>&>(*list_);
    for (auto& [n, v] : list) {
      if (n == name) {
        v.assign(value);
        return;
      }
    }
    list.emplace_back(std::string(name), std::string(value));
  }

  std::shared_ptr<const std::vector<value_type>> list_;
};

/// Header names the broker itself writes.
namespace headers {
/// On a dead letter: the queue it died in.
inline constexpr std::string_view death_queue = "x-death-queue";
/// On a dead letter: why ("rejected", "max_deliveries", "expired", "overflow", or the
/// reason given to `Delivery::reject`).
inline constexpr std::string_view death_reason = "x-death-reason";
/// On a dead letter: how many times it had been delivered.
inline constexpr std::string_view death_attempts = "x-death-attempts";
/// On a message moved (Broker::move_messages) from one durable queue to another: the queue it
/// came from and its place in that queue's journal — how recovery finishes a move a crash cut
/// short, so the message ends up in exactly one of the two.
inline constexpr std::string_view moved_from = "x-moved-from";
inline constexpr std::string_view moved_seq = "x-moved-seq";
}  // namespace headers

}  // namespace switchyard
