// switchyard/transport.hpp — a place outside this process where a destination can live (a Kafka
// cluster: switchyard/kafka.hpp), and what it can carry of switchyard's semantics.
//
// The seam: `TopicOptions::transport` names the transport a topic lives on (null: this
// process). From then on the topic's name is "remote": `Producer::send` to it hands the record
// to the transport, `Broker::group_consumer` joins the transport's consumer group, and the
// handles keep their types and meanings. What a transport cannot carry over is refused with a
// typed error when the topic is declared or the member joins (`Errc::invalid_argument`, the
// message naming the transport and the option), never later.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/clock.hpp"
#include "switchyard/export.hpp"
#include "switchyard/group_consumer.hpp"

namespace switchyard {

struct TopicOptions;

namespace detail {
class Access;
class Hooks;
class RemoteTopic;
}  // namespace detail

/// What a transport can do beyond the core of a topic (produce by key, consume in a group,
/// commit, at-least-once), one bit each. Tests and adapters ask `Capabilities::has`.
enum class Capability : std::uint32_t {
  seek = 1u << 0,                 ///< GroupConsumer::seek
  pause = 1u << 1,                ///< GroupConsumer::pause / resume
  lag = 1u << 2,                  ///< GroupConsumer::lag / committed
  headers = 1u << 3,              ///< record headers round trip
  timestamps = 1u << 4,           ///< the producer's timestamp round trips
  message_ids = 1u << 5,          ///< Record::id() is the id the producer gave it
  record_retention = 1u << 6,     ///< `Retention::records` (Kafka has bytes and age only)
  queue_subscriptions = 1u << 7,  ///< Broker::subscribe_queue (SNS-style fan-out)
  local_durability = 1u << 8,     ///< `TopicOptions::durability` other than memory
  start_offset = 1u << 9,         ///< `Start::offset` and `Start::timestamp` for a new group
  ready_fd = 1u << 10,            ///< GroupConsumer::ready_fd (event loops)
  missed_records = 1u << 11,      ///< retention gaps reported as `Missed`
  cluster_replication = 1u << 12  ///< completions report `Persisted::replicated`
};

/// A set of `Capability` bits.
struct Capabilities {
  std::uint32_t bits = 0;
  [[nodiscard]] constexpr bool has(Capability c) const noexcept {
    return (bits & static_cast<std::uint32_t>(c)) != 0;
  }
  [[nodiscard]] static constexpr Capabilities of(std::initializer_list<Capability> cs) noexcept {
    Capabilities out;
    for (Capability c : cs) out.bits |= static_cast<std::uint32_t>(c);
    return out;
  }
  friend constexpr bool operator==(Capabilities, Capabilities) = default;
};

/// What the topics of this process can do (every capability but `cluster_replication`).
inline constexpr Capabilities kLocalCapabilities = Capabilities{(1u << 12) - 1};

/// A connection to a place topics can live. Made by a transport's factory
/// (`switchyard::kafka::connect`); shared by every broker and topic given it, and kept alive by
/// them. Its members are thread-safe.
class SWITCHYARD_EXPORT Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  virtual ~Transport();

  /// "kafka": how errors and `option_mismatch` messages name it.
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  [[nodiscard]] virtual Capabilities capabilities() const noexcept = 0;

 private:
  // Called by Broker::declare_topic, through detail::Access (not installed).
  friend class detail::Access;
  /// Opens topic `name` with `options` on the transport (creating it there if it does not
  /// exist). Throws `Error`: `invalid_argument` for an option the transport cannot carry,
  /// `option_mismatch` when the remote topic exists with another partition count,
  /// `io_error`/`timed_out` when the remote end cannot be reached. Called by `declare_topic`,
  /// once per name; `clock` and `hooks` are the broker's (its interceptors and log).
  virtual std::shared_ptr<detail::RemoteTopic> open_topic(
      std::string_view name, const TopicOptions& options, std::shared_ptr<Clock> clock,
      std::shared_ptr<const detail::Hooks> hooks) = 0;
};

}  // namespace switchyard
