// src/route/exchange_state.hpp — an exchange's bindings and its routing.
//
// Data structures (all under mutex_, a shared_mutex):
//   bindings_   every binding: target destination, key, header arguments; a slot's index is
//               the binding's id, freed slots are reused.
//   by_key_     key → the ids of the bindings with that key, for every type: a direct
//               exchange routes by it (one hash look-up per message); bind's idempotence
//               check and unbind look a binding up by it, so neither scans bindings_ (a bind
//               costs O(its key), not O(bindings)).
//   topics_     TopicMatcher<binding id> (topic exchanges): a word trie, never a scan of
//               patterns.
//   Fanout and headers exchanges walk bindings_ (a fanout matches all; headers bindings are
//   tested one by one, as RabbitMQ does).
//
// Threading story
//   * Routing (any thread) holds mutex_ shared while it matches and hands copies to the
//     targets, so bind/unbind (exclusive) never pull a target from under a message in flight.
//   * A message reaches a destination at most once per publish, however many bindings match.
//   * Exchange-to-exchange routing recurses; a thread-local path of the exchanges being routed
//     through stops cycles (and so never takes the same shared lock twice on one thread).
//   * Targets are shared_ptrs: a deleted queue stays alive (and answers `closed`) until its
//     bindings are removed, which the broker does on delete.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "match/headers_match.hpp"
#include "match/topic_matcher.hpp"
#include "route/destination.hpp"
#include "switchyard/exchange.hpp"
#include "sync/mutex.hpp"
#include "util/string_hash.hpp"

namespace switchyard::detail {

class ExchangeState final : public Destination {
 public:
  ExchangeState(std::string name, ExchangeType type, ExchangeOptions options,
                std::shared_ptr<Destination> alternate);

  [[nodiscard]] DestinationKind kind() const noexcept override { return DestinationKind::exchange; }
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] ExchangeType type() const noexcept { return type_; }
  [[nodiscard]] const ExchangeOptions& options() const noexcept { return options_; }

  Result<SendReceipt> accept(Message&& message, const SendOptions& options) noexcept override;
  void close(bool drain) noexcept override;
  [[nodiscard]] bool idle() const noexcept override { return true; }

  /// Adds a binding (idempotent for an identical one). Throws `Error` for a malformed
  /// pattern or arguments.
  void bind(std::shared_ptr<Destination> target, std::string_view key, const BindOptions& options);
  /// Removes a binding; false if there was none.
  bool unbind(const Destination& target, std::string_view key);
  /// Removes every binding to `target` (it is being deleted). @note threadsafe
  void unbind_all(const Destination& target) noexcept;
  [[nodiscard]] std::size_t binding_count() const;
  struct BindingView {
    std::shared_ptr<Destination> target;
    std::string key;
    Headers arguments;
  };
  /// Every binding (a copy, for the catalog).
  [[nodiscard]] std::vector<BindingView> bindings() const;
  [[nodiscard]] ExchangeStats stats() const;

 private:
  struct Binding {
    std::shared_ptr<Destination> target;  // null: free slot
    std::string key;
    Headers arguments;
    HeaderFilter filter;  // parsed `arguments`
  };

  void collect_locked(const Message& message, std::vector<Destination*>& out) const
      REQUIRES_SHARED(mutex_);
  bool passes_filter(const Binding& binding, const Message& message) const noexcept;
  void erase_locked(std::uint32_t id) REQUIRES(mutex_);

  const std::string name_;
  const ExchangeType type_;
  const ExchangeOptions options_;
  const std::shared_ptr<Destination> alternate_;

  mutable SharedMutex mutex_;
  std::vector<Binding> bindings_ GUARDED_BY(mutex_);
  std::vector<std::uint32_t> free_ids_ GUARDED_BY(mutex_);
  std::unordered_map<std::string, std::vector<std::uint32_t>, StringHash, std::equal_to<>> by_key_
      GUARDED_BY(mutex_);
  TopicMatcher<std::uint32_t> topics_ GUARDED_BY(mutex_);
  std::atomic<bool> closed_{false};

  std::atomic<std::uint64_t> routed_{0};
  std::atomic<std::uint64_t> deliveries_{0};
  std::atomic<std::uint64_t> unroutable_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

}  // namespace switchyard::detail
