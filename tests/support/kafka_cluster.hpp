// tests/support/kafka_cluster.hpp — a Kafka for tests: librdkafka's mock cluster in the test
// process, and a transport to it with the timings that keep group joins near 5 s instead of
// 45 (session.timeout.ms=6000, heartbeat.interval.ms=500; eager assignors only: 2.0.2's
// cooperative-sticky aborts on the mock).
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "switchyard/kafka.hpp"

namespace switchyard::test {

inline kafka::KafkaOptions mock_kafka_options(const kafka::MockCluster& cluster) {
  kafka::KafkaOptions o;
  o.bootstrap_servers = cluster.bootstrap_servers();
  o.properties = {{"consumer.session.timeout.ms", "6000"},
                  {"consumer.heartbeat.interval.ms", "500"},
                  {"consumer.fetch.wait.max.ms", "20"},
                  {"topic.metadata.refresh.interval.ms", "1000"},
                  {"producer.linger.ms", "2"},
                  {"producer.retry.backoff.ms", "50"}};
  o.request_timeout = std::chrono::seconds(10);
  // SWITCHYARD_KAFKA_DEBUG=cgrp,consumer (librdkafka's `debug`): the members' group protocol on
  // stderr, for a test that fails to join or to fetch.
  if (const char* debug = std::getenv("SWITCHYARD_KAFKA_DEBUG")) {
    o.properties.emplace("consumer.debug", debug);
  }
  return o;
}

/// A mock cluster of `brokers` and a transport to it. Destroyed in the right order (the
/// transport's clients before the cluster): declare the broker after this.
struct MockKafka {
  explicit MockKafka(int brokers = 3) : cluster(brokers) {}
  kafka::MockCluster cluster;
  std::shared_ptr<Transport> transport = kafka::connect(mock_kafka_options(cluster));
};

}  // namespace switchyard::test
