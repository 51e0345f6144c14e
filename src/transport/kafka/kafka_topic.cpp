// A topic on a Kafka cluster: produce, delivery reports, declare-time checks. Design:
// kafka_topic.hpp.
#include "transport/kafka/kafka_topic.hpp"

#include <algorithm>
#include <charconv>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include "route/send_completion.hpp"
#include "transport/kafka/kafka_client.hpp"
#include "transport/kafka/kafka_member.hpp"
#include "util/murmur2.hpp"

namespace switchyard::detail::kafka {

namespace {

/// The options of `TopicOptions` Kafka cannot carry, as the error a declare throws.
void check_carried(std::string_view name, const TopicOptions& options) {
  auto refuse = [&](const std::string& what) {
    throw Error(Errc::invalid_argument,
                "topic '" + std::string(name) + "' on transport kafka: " + what);
  };
  if (options.durability != Durability::memory) {
    refuse("durability '" + std::string(to_string(options.durability)) +
           "' is local storage; a Kafka topic's durability is the cluster's replication (declare "
           "it with Durability::memory)");
  }
  if (options.retention.records != Retention{}.records) {
    refuse("retention.records is not carried (Kafka retains by bytes and age only)");
  }
}

std::int64_t kafka_retention_ms(Duration age) noexcept {
  if (age.count() == 0 || age == Duration::max()) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
}

}  // namespace

struct KafkaTopic::Pending {
  std::function<void(const Result<SendReceipt>&)> on_complete;
  std::uint64_t id = 0;
};

KafkaTopic::KafkaTopic(std::shared_ptr<const KafkaTransport> transport, std::string name,
                       TopicOptions options, std::shared_ptr<Clock> clock,
                       std::shared_ptr<const Hooks> hooks)
    : transport_(std::move(transport)),
      name_(std::move(name)),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      clock_(std::move(clock)) {
  check_carried(name_, options_);
  accepts_fields_ = true;     // produced straight from the producer's arguments
  defers_completion_ = true;  // completed by the delivery report
  Conf conf = make_conf(transport_->options(), Role::producer);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaTopic::on_delivery);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaTopic::on_error);
  rd_kafka_conf_set_stats_cb(conf.get(), &KafkaTopic::on_statistics);
  rd_kafka_conf_set_opaque(conf.get(), this);
  char error[512];
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof error);
  if (producer_ == nullptr) {
    throw Error(Errc::invalid_argument, "topic '" + name_ + "' on kafka: " + error);
  }
  (void)conf.release();  // rd_kafka_new owns it now
  try {
    const std::optional<int> found = remote_partitions();
    connection_.store(ConnectionState::up, std::memory_order_relaxed);  // a broker answered
    if (!found) {
      create_remote_topic();
    } else if (*found != static_cast<int>(options_.partitions)) {
      throw Error(Errc::option_mismatch, "topic '" + name_ + "' exists on kafka with " +
                                             std::to_string(*found) + " partitions, asked for " +
                                             std::to_string(options_.partitions));
    }
    topic_ = rd_kafka_topic_new(producer_, name_.c_str(), nullptr);
    if (topic_ == nullptr) {
      throw Error(Errc::invalid_argument,
                  "topic '" + name_ + "' on kafka: " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    delivery_thread_ = std::thread([this] { delivery_loop(); });
  } catch (...) {
    if (topic_ != nullptr) rd_kafka_topic_destroy(topic_);
    rd_kafka_destroy(producer_);
    throw;
  }
}

KafkaTopic::~KafkaTopic() {
  close(false);
  rd_kafka_topic_destroy(topic_);
  rd_kafka_destroy(producer_);
}

std::optional<int> KafkaTopic::remote_partitions() {
  const rd_kafka_metadata_t* metadata = nullptr;
  // All topics: asking for one by name would have a broker auto-create it.
  const rd_kafka_resp_err_t err = rd_kafka_metadata(producer_, 1, nullptr, &metadata,
                                                    millis(transport_->options().request_timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const Failure f = failure_of(err, "topic '" + name_ + "': kafka metadata");
    throw Error(f.code, f.message);
  }
  std::optional<int> found;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    if (name_ == metadata->topics[i].topic && metadata->topics[i].err == 0) {
      found = metadata->topics[i].partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(metadata);
  return found;
}

void KafkaTopic::create_remote_topic() {
  char error[512];
  rd_kafka_NewTopic_t* topic =
      rd_kafka_NewTopic_new(name_.c_str(), static_cast<int>(options_.partitions),
                            transport_->options().replication_factor, error, sizeof error);
  if (topic == nullptr) throw Error(Errc::invalid_argument, "topic '" + name_ + "': " + error);
  const std::string bytes =
      options_.retention.bytes == 0 ? "-1" : std::to_string(options_.retention.bytes);
  (void)rd_kafka_NewTopic_set_config(topic, "retention.bytes", bytes.c_str());
  (void)rd_kafka_NewTopic_set_config(
      topic, "retention.ms", std::to_string(kafka_retention_ms(options_.retention.age)).c_str());
  if (options_.cleanup != Cleanup::delete_records) {
    (void)rd_kafka_NewTopic_set_config(
        topic, "cleanup.policy", options_.cleanup == Cleanup::compact ? "compact" : "compact,delete");
    (void)rd_kafka_NewTopic_set_config(
        topic, "delete.retention.ms",
        std::to_string(kafka_retention_ms(options_.delete_retention)).c_str());
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(producer_);
  rd_kafka_CreateTopics(producer_, &topic, 1, nullptr, queue);
  rd_kafka_event_t* event =
      rd_kafka_queue_poll(queue, millis(transport_->options().request_timeout));
  rd_kafka_NewTopic_destroy(topic);
  std::optional<Failure> failed;
  if (event == nullptr) {
    failed = Failure{Errc::timed_out, "topic '" + name_ + "': kafka did not answer CreateTopics"};
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failed = failure_of(rd_kafka_event_error(event), "topic '" + name_ + "': CreateTopics");
  } else {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    std::size_t n = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &n);
    for (std::size_t i = 0; i < n; ++i) {
      const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
      // Created by someone else meanwhile: the partition check of a re-declare covers it.
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        failed = failure_of(err, "topic '" + name_ + "': CreateTopics");
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  if (failed) throw Error(failed->code, failed->message);
}

// --- the producer side ----------------------------------------------------------------

Result<SendReceipt> KafkaTopic::accept(Message&& message, const SendOptions& options) noexcept {
  if (!message) return Result<SendReceipt>(Errc::invalid_argument, "empty message");
  std::string object_bytes;
  std::span<const std::byte> payload = message.payload().bytes();
  if (message.has_object()) {
    try {
      auto encoded = message.encoded();
      if (!encoded) return Result<SendReceipt>(encoded.failure());
      object_bytes = std::move(*encoded);
    } catch (...) {
      return Result<SendReceipt>(Errc::out_of_memory, "encoding an object payload for kafka");
    }
    payload = std::as_bytes(std::span(object_bytes.data(), object_bytes.size()));
  }
  const Headers& headers = message.headers();
  MessageFields fields;
  fields.id = message.id();
  fields.timestamp_ns = message.timestamp().time_since_epoch().count();
  fields.key = message.key();
  fields.headers = std::span(headers.begin(), headers.end());
  fields.payload = payload;
  return produce(fields, options);
}

std::optional<Result<SendReceipt>> KafkaTopic::accept_fields(const MessageFields& fields,
                                                             const SendOptions& options) noexcept {
  return produce(fields, options);
}

Result<SendReceipt> KafkaTopic::produce(const MessageFields& fields,
                                        const SendOptions& options) noexcept {
  if (closed_for_send()) {
    return Result<SendReceipt>(Errc::closed, "topic '" + name_ + "' is closed");
  }
  if (fields.payload.size() > options_.max_payload) {
    return Result<SendReceipt>(Errc::payload_too_large,
                               "payload of " + std::to_string(fields.payload.size()) +
                                   " bytes over topic '" + name_ + "''s max_payload");
  }
  if (!options.dedup_id.empty()) {
    // Kafka's idempotent producer deduplicates its own retries by sequence number, not an
    // application's ids: honouring one would need state the cluster does not keep.
    return Result<SendReceipt>(Errc::invalid_argument,
                               "topic '" + name_ +
                                   "' on transport kafka: SendOptions::dedup_id is not carried "
                                   "(Kafka deduplicates producer retries, not application ids)");
  }
  const bool compacted = options_.cleanup != Cleanup::delete_records;
  if (compacted && fields.key.empty()) {
    // As a compacted local topic does, and as Kafka would later (per record, in the batch).
    return Result<SendReceipt>(Errc::invalid_argument,
                               "topic '" + name_ + "' is compacted: a record needs a key");
  }
  // A tombstone (empty payload, the kTombstoneHeader mark) goes as Kafka's: a null value,
  // without the mark (consumers surface a null value as a tombstone: kafka_member.cpp).
  bool tombstone = false;
  std::vector<Headers::value_type> unmarked;
  if (compacted && fields.payload.empty()) {
    for (const auto& header : fields.headers) {
      if (header.first == kTombstoneHeader) tombstone = true;
    }
    if (tombstone) {
      try {
        for (const auto& header : fields.headers) {
          if (header.first != kTombstoneHeader) unmarked.push_back(header);
        }
      } catch (...) {
        return Result<SendReceipt>(Errc::out_of_memory, "a tombstone's headers");
      }
    }
  }
  const std::span<const Headers::value_type> record_headers =
      tombstone ? std::span<const Headers::value_type>(unmarked) : fields.headers;
  // A null value is a tombstone to Kafka: an empty payload that is not one gets a non-null
  // pointer (librdkafka sends a null value for a null pointer only).
  static constexpr std::byte kEmpty{};
  const std::byte* value =
      tombstone ? nullptr : (fields.payload.empty() ? &kEmpty : fields.payload.data());
  std::uint32_t partition = 0;
  if (options.partition) {
    if (*options.partition >= options_.partitions) {
      return Result<SendReceipt>(
          Errc::out_of_range, "partition " + std::to_string(*options.partition) + " of topic '" +
                                  name_ + "' (it has " + std::to_string(options_.partitions) + ")");
    }
    partition = *options.partition;
  } else if (!fields.key.empty()) {
    partition = kafka_partition(fields.key, options_.partitions);  // = the Java client's
  } else if (options_.partitions > 1) {
    // Spread, not order: relaxed.
    partition = static_cast<std::uint32_t>(next_keyless_.fetch_add(1, std::memory_order_relaxed) %
                                           options_.partitions);
  }
  Pending* pending = nullptr;
  rd_kafka_headers_t* headers = nullptr;
  try {
    if (options.on_complete) pending = new Pending{options.on_complete, fields.id};
  } catch (...) {
    return Result<SendReceipt>(Errc::out_of_memory, "a send's completion");
  }
  // The send's deadline: read from the clock only once the buffer is full (a clock read per
  // record was 5% of a producer's time).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  for (;;) {
    if (!record_headers.empty()) {
      headers = rd_kafka_headers_new(record_headers.size());
      for (const auto& [k, v] : record_headers) {
        (void)rd_kafka_header_add(headers, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                                  static_cast<ssize_t>(v.size()));
      }
    }
#if defined(__clang__)
    // librdkafka's RD_KAFKA_V_* macros type-check with GNU statement expressions.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-statement-expression"
#endif
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_RKT(topic_), RD_KAFKA_V_PARTITION(static_cast<int32_t>(partition)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<std::byte*>(value), fields.payload.size()),
        RD_KAFKA_V_KEY(fields.key.data(), fields.key.size()),
        RD_KAFKA_V_TIMESTAMP(fields.timestamp_ns / 1'000'000), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(pending), RD_KAFKA_V_END);
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;  // the headers are librdkafka's now
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    headers = nullptr;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && transport_->options().overflow == Overflow::block) {
      const auto timeout = transport_->options().send_timeout;
      if (!deadline) deadline = std::chrono::steady_clock::now() + timeout;
      if (wait_for_room(*deadline)) continue;
    }
    delete pending;
    failed_.fetch_add(1, std::memory_order_relaxed);
    return Result<SendReceipt>(failure_of(err, "producing to kafka topic '" + name_ + "'"));
  }
  produced_.fetch_add(1, std::memory_order_relaxed);
  in_flight_bytes_.fetch_add(static_cast<std::int64_t>(fields.payload.size() + fields.key.size()),
                             std::memory_order_relaxed);
  // The offset comes with the delivery report (on_complete).
  return SendReceipt{.id = fields.id, .partition = partition, .persisted = Persisted::memory};
}

bool KafkaTopic::wait_for_room(std::chrono::steady_clock::time_point deadline) noexcept {
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline || closed_for_send()) return false;
  // A bounded wait: a delivery notifies room_ when it sees a waiter; one it could not see (it
  // read waiters_ just before our increment) costs at most this slice.
  const auto until = std::min(deadline, now + std::chrono::milliseconds(10));
  waiters_.fetch_add(1, std::memory_order_acq_rel);
  {
    MutexLock lock(room_mutex_);
    (void)room_.wait_until(room_mutex_, until);
  }
  waiters_.fetch_sub(1, std::memory_order_acq_rel);
  return !closed_for_send();
}

void KafkaTopic::on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message, void* opaque) {
  static_cast<KafkaTopic*>(opaque)->delivered(*message);
}

void KafkaTopic::delivered(const rd_kafka_message_t& message) noexcept {
  in_flight_bytes_.fetch_sub(static_cast<std::int64_t>(message.len + message.key_len),
                             std::memory_order_relaxed);
  if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    connection_.store(ConnectionState::up, std::memory_order_relaxed);
    delivered_.fetch_add(1, std::memory_order_relaxed);
    delivered_bytes_.fetch_add(message.len + message.key_len, std::memory_order_relaxed);
  } else {
    failed_.fetch_add(1, std::memory_order_relaxed);
    undelivered_.fetch_add(1, std::memory_order_relaxed);
    if (hooks_->logging()) {
      hooks_->log().log(LogLevel::warning, "kafka", "topic '{}': a record was not delivered: {}",
                        name_, rd_kafka_err2str(message.err));
    }
  }
  auto* pending = static_cast<Pending*>(message._private);
  if (pending == nullptr) return;
  try {
    if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending->on_complete(Result<SendReceipt>(
          SendReceipt{.id = pending->id,
                      .partition = static_cast<std::uint32_t>(message.partition),
                      .offset = static_cast<std::uint64_t>(message.offset),
                      .persisted = Persisted::replicated}));
    } else {
      pending->on_complete(Result<SendReceipt>(
          failure_of(message.err, "delivering to kafka topic '" + name_ + "'")));
    }
  } catch (...) {
    // on_complete must not throw (send_options.hpp); the delivery loop goes on.
  }
  delete pending;
}

void KafkaTopic::delivery_loop() noexcept {
  while (!stop_.load(std::memory_order_acquire)) {
    const int served = rd_kafka_poll(producer_, 100);
    // Acquire: pairs with a waiter's increment (see wait_for_room).
    if (served > 0 && waiters_.load(std::memory_order_acquire) > 0) room_.notify_all();
  }
}

void KafkaTopic::close(bool drain) noexcept {
  if (send_closed_.exchange(true, std::memory_order_acq_rel)) return;
  receive_closed_.store(true, std::memory_order_release);
  room_.notify_all();
  stop_.store(true, std::memory_order_release);
  if (delivery_thread_.joinable()) delivery_thread_.join();
  if (producer_ == nullptr) return;
  if (drain) {
    const rd_kafka_resp_err_t err =
        rd_kafka_flush(producer_, millis(transport_->options().delivery_timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hooks_->logging()) {
      hooks_->log().log(LogLevel::error, "kafka", "topic '{}': flush at close: {} ({} left)", name_,
                        rd_kafka_err2str(err), rd_kafka_outq_len(producer_));
    }
  }
  // What is left (a stop, or a flush that timed out) completes with `closed`.
  (void)rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  (void)rd_kafka_flush(producer_, 1000);
}

bool KafkaTopic::idle() const noexcept {
  return rd_kafka_outq_len(producer_) == 0;
}

TopicStats KafkaTopic::stats() const {
  TopicStats s;
  s.name = name_;
  // This process's view: records it produced that the cluster acknowledged.
  s.appended = delivered_.load(std::memory_order_relaxed);
  s.appended_bytes = delivered_bytes_.load(std::memory_order_relaxed);
  return s;
}

// --- the bridge's own counters ----------------------------------------------------------

void KafkaTopic::on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  static_cast<KafkaTopic*>(opaque)->client_error("producer", err, reason);
}

void KafkaTopic::client_error(std::string_view client, int err, const char* reason) noexcept {
  errors_.fetch_add(1, std::memory_order_relaxed);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    connection_.store(ConnectionState::down, std::memory_order_relaxed);
  }
  const char* text = reason != nullptr ? reason : rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err));
  try {
    MutexLock lock(status_mutex_);
    last_error_ = std::string(client) + ": " + text;
  } catch (...) {
    // Out of memory for the text: the count above still says it happened.
  }
  // Never swallowed: librdkafka reports an error once, here; the log keeps it.
  if (hooks_->logging()) {
    hooks_->log().log(LogLevel::warning, "kafka", "topic '{}' ({}): {}", name_, client, text);
  }
}

int KafkaTopic::on_statistics(rd_kafka_t* /*rk*/, char* json, std::size_t json_len, void* opaque) {
  static_cast<KafkaTopic*>(opaque)->statistics(std::string_view(json, json_len));
  return 0;  // librdkafka frees `json`
}

namespace {

/// The number after `"key":` at `at` in librdkafka's statistics, or 0.
std::uint64_t number_at(std::string_view json, std::size_t at, std::string_view key) noexcept {
  if (at == std::string_view::npos) return 0;
  std::uint64_t n = 0;
  const char* begin = json.data() + at + key.size();
  (void)std::from_chars(begin, json.data() + json.size(), n);
  return n;
}

}  // namespace

void KafkaTopic::statistics(std::string_view json) noexcept {
  // librdkafka's statistics (STATISTICS.md), scanned, not parsed: a few keys of a document the
  // library writes itself, once per statistics interval. Two kinds of resend:
  //  * a request sent again (a timeout, a lost connection): each broker's "txretries";
  //  * a record sent again after the cluster refused its batch with a retriable error
  //    (NOT_ENOUGH_REPLICAS, a leader move): counted nowhere by librdkafka, so derived from the
  //    top-level "txmsgs" (record transmissions, resends included) minus the records sent once:
  //    those completed plus those the client still holds ("msg_cnt", in flight included).
  //    Records that completed unsent (purged, timed out in the queue) make it an undercount.
  constexpr std::string_view kRetries = "\"txretries\":";
  std::uint64_t requests = 0;
  for (std::size_t at = json.find(kRetries); at != std::string_view::npos;
       at = json.find(kRetries, at + kRetries.size())) {
    requests += number_at(json, at, kRetries);
  }
  constexpr std::string_view kTransmitted = "\"txmsgs\":", kHeld = "\"msg_cnt\":";
  // Partitions have a "txmsgs" too; the top level's comes last, its "msg_cnt" first.
  const std::uint64_t transmitted = number_at(json, json.rfind(kTransmitted), kTransmitted);
  const std::uint64_t held = number_at(json, json.find(kHeld), kHeld);
  const std::uint64_t once = delivered_.load(std::memory_order_relaxed) +
                             undelivered_.load(std::memory_order_relaxed) + held;
  retried_.store(requests + (transmitted > once ? transmitted - once : 0),
                 std::memory_order_relaxed);
  if (json.find("\"state\":\"UP\"") != std::string_view::npos) {
    connection_.store(ConnectionState::up, std::memory_order_relaxed);
  }
}

void KafkaTopic::publish_lag(const void* member, const std::string& group,
                             std::vector<std::pair<std::uint32_t, std::uint64_t>> lag) noexcept {
  try {
    MutexLock lock(status_mutex_);
    MemberLag& entry = lags_[member];
    if (entry.group.empty()) entry.group = group;
    entry.lag = std::move(lag);
  } catch (...) {
    // Out of memory: the stats show the member's previous lag.
  }
}

void KafkaTopic::member_left(const void* member) noexcept {
  {
    MutexLock lock(status_mutex_);
    lags_.erase(member);
  }
  members_.fetch_sub(1, std::memory_order_relaxed);
}

RemoteTopicStats KafkaTopic::remote_stats() const {
  RemoteTopicStats s;
  s.name = name_;
  s.transport = std::string(transport_->name());
  s.produced = produced_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.retried = retried_.load(std::memory_order_relaxed);
  s.in_flight_bytes =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, in_flight_bytes_.load(std::memory_order_relaxed)));
  s.buffered = static_cast<std::uint64_t>(std::max(0, rd_kafka_outq_len(producer_)));
  s.rebalances = rebalances_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.connection = connection_.load(std::memory_order_relaxed);
  {
    MutexLock lock(status_mutex_);
    s.last_error = last_error_;
    for (const auto& [member, entry] : lags_) {
      for (const auto& [partition, lag] : entry.lag) {
        s.lag.push_back({.group = entry.group, .partition = partition, .lag = lag});
      }
    }
  }
  std::sort(s.lag.begin(), s.lag.end(), [](const RemotePartitionLag& a, const RemotePartitionLag& b) {
    return std::tie(a.group, a.partition) < std::tie(b.group, b.partition);
  });
  return s;
}

std::optional<GroupStats> KafkaTopic::group_stats(std::string_view /*group*/) const {
  return std::nullopt;  // a remote group's progress is the cluster's (GroupConsumer::lag)
}

std::shared_ptr<GroupMember> KafkaTopic::join(std::string_view group,
                                              GroupConsumerOptions options) {
  if (closed_for_receive()) throw Error(Errc::closed, "topic '" + name_ + "' is closed");
  auto member =
      std::make_shared<KafkaMember>(shared_from_this(), std::string(group), std::move(options));
  members_.fetch_add(1, std::memory_order_relaxed);
  return member;
}

// --- the transport --------------------------------------------------------------------

KafkaTransport::KafkaTransport(switchyard::kafka::KafkaOptions options)
    : options_(std::move(options)) {
  if (options_.bootstrap_servers.empty()) {
    throw Error(Errc::invalid_argument, "kafka: bootstrap_servers is empty");
  }
  if (options_.overflow == Overflow::drop_oldest) {
    throw Error(Errc::invalid_argument,
                "kafka: Overflow::drop_oldest is not carried (a buffered record cannot be "
                "dropped); use block or reject");
  }
  if (options_.assignor != "range" && options_.assignor != "roundrobin") {
    throw Error(Errc::invalid_argument, "kafka: assignor '" + options_.assignor +
                                            "' (range or roundrobin: librdkafka 2.0.2's "
                                            "cooperative-sticky aborts)");
  }
  // Every property must be one librdkafka knows: refuse it now, not at the first declare.
  (void)make_conf(options_, Role::producer);
  (void)make_conf(options_, Role::consumer);
}

std::shared_ptr<RemoteTopic> KafkaTransport::open_topic(std::string_view name,
                                                        const TopicOptions& options,
                                                        std::shared_ptr<Clock> clock,
                                                        std::shared_ptr<const Hooks> hooks) {
  return std::make_shared<KafkaTopic>(shared_from_this(), std::string(name), options,
                                      std::move(clock), std::move(hooks));
}

}  // namespace switchyard::detail::kafka

namespace switchyard::kafka {

std::shared_ptr<Transport> connect(KafkaOptions options) {
  return std::make_shared<detail::kafka::KafkaTransport>(std::move(options));
}

}  // namespace switchyard::kafka
