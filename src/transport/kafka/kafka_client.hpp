// src/transport/kafka/kafka_client.hpp — what every librdkafka client of switchyard::kafka
// shares: its configuration (switchyard's defaults, then the user's properties), the one
// mapping of librdkafka's error codes onto `Errc`, and owning handles.
//
// Threads: pure functions and RAII; a handle is used as librdkafka allows (an rd_kafka_t from
// any thread, a topic-partition list by one thread at a time).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/error.hpp"
#include "switchyard/kafka.hpp"

namespace switchyard::detail::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

enum class Role : std::uint8_t { producer, consumer };

/// A configuration for a client of `role`: bootstrap servers, switchyard's defaults for the
/// role, then `options.properties` (those for the role, prefix removed). Throws
/// `Error(invalid_argument)` naming a property librdkafka refused.
[[nodiscard]] Conf make_conf(const switchyard::kafka::KafkaOptions& options, Role role);
/// Sets one property; throws as make_conf.
void set(rd_kafka_conf_t* conf, std::string_view key, std::string_view value);

/// The Errc a librdkafka error is to a switchyard user (see the cases in kafka_client.cpp).
[[nodiscard]] Errc errc_of(rd_kafka_resp_err_t err) noexcept;
/// A failure for `err`: its Errc and "<what>: <librdkafka's text>".
[[nodiscard]] Failure failure_of(rd_kafka_resp_err_t err, std::string_view what);

/// Milliseconds for librdkafka's int timeouts, clamped to [0, INT_MAX].
[[nodiscard]] int millis(Duration d) noexcept;

}  // namespace switchyard::detail::kafka
