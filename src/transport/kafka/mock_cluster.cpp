// librdkafka's in-process mock cluster, for tests and examples (switchyard/kafka.hpp).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string>

#include "switchyard/kafka.hpp"

namespace switchyard::kafka {

MockCluster::MockCluster(int brokers) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The cluster lives on a handle of its own, which sends nothing.
  (void)rd_kafka_conf_set(conf, "client.id", "switchyard-mock-cluster", error, sizeof error);
  (void)rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);  // no CONFWARN noise
  owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (owner_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw Error(Errc::io_error, std::string("kafka mock cluster: ") + error);
  }
  cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(owner_);
    throw Error(Errc::io_error, "kafka mock cluster: could not start its brokers");
  }
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(owner_);
}

void MockCluster::create_topic(std::string_view topic, int partitions, int replication) {
  if (const rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
          cluster_, std::string(topic).c_str(), partitions, replication)) {
    throw Error(Errc::invalid_argument, std::string("mock topic: ") + rd_kafka_err2str(err));
  }
}

void MockCluster::push_request_errors(int api_key, int count, int error) {
  for (int i = 0; i < count; ++i) {
    rd_kafka_mock_push_request_errors(cluster_, static_cast<int16_t>(api_key), 1,
                                      static_cast<rd_kafka_resp_err_t>(error));
  }
}

void MockCluster::set_broker_down(int broker) {
  (void)rd_kafka_mock_broker_set_down(cluster_, broker);
}

void MockCluster::set_broker_up(int broker) {
  (void)rd_kafka_mock_broker_set_up(cluster_, broker);
}

void MockCluster::set_leader(std::string_view topic, int partition, int broker) {
  (void)rd_kafka_mock_partition_set_leader(cluster_, std::string(topic).c_str(), partition, broker);
}

}  // namespace switchyard::kafka
