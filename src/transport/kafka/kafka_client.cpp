// librdkafka configuration and error mapping. Design: kafka_client.hpp.
#include "transport/kafka/kafka_client.hpp"

#include <climits>
#include <string>

namespace switchyard::detail::kafka {

void set(rd_kafka_conf_t* conf, std::string_view key, std::string_view value) {
  char error[512];
  if (rd_kafka_conf_set(conf, std::string(key).c_str(), std::string(value).c_str(), error,
                        sizeof error) != RD_KAFKA_CONF_OK) {
    throw Error(Errc::invalid_argument, "kafka: property '" + std::string(key) + "'='" +
                                            std::string(value) + "': " + error);
  }
}

Conf make_conf(const switchyard::kafka::KafkaOptions& options, Role role) {
  Conf conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", options.bootstrap_servers);
  if (role == Role::producer) {
    set(conf.get(), "enable.idempotence", "true");  // implies acks=all, in-order retries
    set(conf.get(), "acks", "all");
    set(conf.get(), "message.timeout.ms", std::to_string(millis(options.delivery_timeout)));
    // Keyed records land where Kafka's Java client puts them; keyless ones where we say.
    set(conf.get(), "partitioner", "murmur2_random");
    // The statistics callback keeps RemoteTopicStats::retried and the connection state.
    set(conf.get(), "statistics.interval.ms", "1000");
  } else {
    set(conf.get(), "enable.auto.commit", "false");
    set(conf.get(), "enable.auto.offset.store", "false");
    set(conf.get(), "partition.assignment.strategy", options.assignor);
  }
  const std::string_view mine = role == Role::producer ? "producer." : "consumer.";
  const std::string_view theirs = role == Role::producer ? "consumer." : "producer.";
  for (const auto& [key, value] : options.properties) {
    std::string_view k = key;
    if (k.starts_with(theirs)) continue;
    if (k.starts_with(mine)) k.remove_prefix(mine.size());
    set(conf.get(), k, value);
  }
  return conf;
}

Errc errc_of(rd_kafka_resp_err_t err) noexcept {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return Errc::ok;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return Errc::payload_too_large;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return Errc::full;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return Errc::timed_out;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return Errc::unauthorized;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return Errc::unknown_destination;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return Errc::out_of_range;
    // The member's generation moved on: its partitions belong to someone else now.
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
      return Errc::not_owner;
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__FATAL:
      return Errc::closed;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
      return Errc::io_error;
    default:
      return Errc::remote_error;
  }
}

Failure failure_of(rd_kafka_resp_err_t err, std::string_view what) {
  return Failure{errc_of(err), std::string(what) + ": " + rd_kafka_err2str(err)};
}

int millis(Duration d) noexcept {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 0) return 0;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace switchyard::detail::kafka
