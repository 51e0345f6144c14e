// A group member over a Kafka consumer. Design: kafka_member.hpp, switchyard/kafka.hpp.
#include "transport/kafka/kafka_member.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "switchyard/detail/message_body.hpp"
#include "transport/kafka/kafka_client.hpp"
#include "util/access.hpp"

namespace switchyard::detail::kafka {

namespace {

PartitionList one_partition(const std::string& topic, std::uint32_t partition,
                            std::int64_t offset) {
  PartitionList list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), static_cast<int32_t>(partition))
      ->offset = offset;
  return list;
}

/// A Message holding what `m` carries: key, payload, headers, timestamp. Throws bad_alloc.
Message to_message(const rd_kafka_message_t& m) {
  const std::string_view key(m.key != nullptr ? static_cast<const char*>(m.key) : "", m.key_len);
  const std::span<const std::byte> payload(static_cast<const std::byte*>(m.payload), m.len);
  rd_kafka_headers_t* headers = nullptr;
  // A null value is Kafka's tombstone: surfaced as switchyard marks one (empty payload and
  // the kTombstoneHeader header, topic.hpp).
  const bool tombstone = m.payload == nullptr;
  const bool has_headers = rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                           rd_kafka_header_cnt(headers) > 0;
  const bool with_headers = has_headers || tombstone;
  MessageBody* body = MessageBody::create(key, {}, payload, with_headers);
  Message message = Access::adopt(body);  // owns it from here (frees it on a throw)
  rd_kafka_timestamp_type_t type;
  const std::int64_t ms = rd_kafka_message_timestamp(&m, &type);
  if (ms >= 0) body->timestamp_ns = ms * 1'000'000;
  if (with_headers) {
    std::vector<std::pair<std::string, std::string>> list;
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    if (tombstone) list.emplace_back(std::string(kTombstoneHeader), std::string());
    for (std::size_t i = 0;
         has_headers &&
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      list.emplace_back(name, std::string(static_cast<const char*>(value), value ? size : 0));
    }
    body->mutable_extras().headers = Headers(list);
  }
  return message;
}

}  // namespace

KafkaMember::KafkaMember(std::shared_ptr<KafkaTopic> topic, std::string group,
                         GroupConsumerOptions options)
    : topic_(std::move(topic)),
      group_(std::move(group)),
      options_(std::move(options)),
      position_(topic_->partitions(), -1),
      moved_(topic_->partitions(), false) {
  if (options_.start == Start::offset || options_.start == Start::timestamp) {
    throw Error(Errc::invalid_argument,
                "group '" + group_ + "' of topic '" + topic_->name() +
                    "' on transport kafka: Start::offset and Start::timestamp are not carried "
                    "(a new Kafka group starts at earliest or latest)");
  }
  Conf conf = make_conf(topic_->kafka_options(), Role::consumer);
  set(conf.get(), "group.id", group_);
  set(conf.get(), "auto.offset.reset", options_.start == Start::earliest ? "earliest" : "latest");
  rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaMember::on_rebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaMember::on_error);
  rd_kafka_conf_set_opaque(conf.get(), this);
  char error[512];
  consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error, sizeof error);
  if (consumer_ == nullptr) {
    throw Error(Errc::invalid_argument, "group '" + group_ + "' on kafka: " + error);
  }
  (void)conf.release();
  (void)rd_kafka_poll_set_consumer(consumer_);  // every event through consumer_poll
  queue_ = rd_kafka_queue_get_consumer(consumer_);
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), topic_->name().c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, topics.get())) {
    rd_kafka_queue_destroy(queue_);
    rd_kafka_destroy(consumer_);
    const Failure f = failure_of(err, "group '" + group_ + "': subscribe");
    throw Error(f.code, f.message);
  }
}

KafkaMember::~KafkaMember() {
  close();
  rd_kafka_queue_destroy(queue_);
  rd_kafka_destroy(consumer_);
}

bool KafkaMember::closed() const noexcept {
  return closed_.load(std::memory_order_acquire) || topic_->closed_for_receive();
}

void KafkaMember::on_rebalance(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<KafkaMember*>(opaque)->rebalanced(err, partitions);
}

void KafkaMember::on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaMember*>(opaque);
  self->topic_->client_error(self->group_, err, reason);
}

void KafkaMember::publish_lag() noexcept {
  const auto now = std::chrono::steady_clock::now();
  if (now - lag_published_ < std::chrono::milliseconds(100)) return;
  lag_published_ = now;
  try {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> lag;
    lag.reserve(assignment_.size());
    for (std::uint32_t p : assignment_) {
      std::int64_t low = 0, high = 0;
      // The watermarks of the last fetch response: no request (unlike `lag`).
      if (rd_kafka_get_watermark_offsets(consumer_, topic_->name().c_str(),
                                         static_cast<int32_t>(p), &low, &high) != 0 ||
          high < 0 || position_[p] < 0) {
        continue;  // not fetched or not read yet: unknown, so not shown
      }
      lag.emplace_back(p, high > position_[p] ? static_cast<std::uint64_t>(high - position_[p]) : 0);
    }
    topic_->publish_lag(this, group_, std::move(lag));
  } catch (...) {
    // Out of memory: the previous lag stays.
  }
}

void KafkaMember::rebalanced(rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* partitions) noexcept {
  topic_->rebalanced();
  lag_published_ = {};  // the assignment changed: the next poll publishes at once
  try {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      (void)rd_kafka_assign(consumer_, partitions);
      std::vector<std::uint32_t> assigned;
      for (int i = 0; i < partitions->cnt; ++i) {
        const auto p = static_cast<std::uint32_t>(partitions->elems[i].partition);
        if (p >= position_.size()) continue;
        assigned.push_back(p);
        position_[p] = -1;
        moved_[p] = false;
      }
      std::sort(assigned.begin(), assigned.end());
      assignment_ = assigned;
      if (!closing_ && !assigned.empty() && options_.on_assigned) options_.on_assigned(assigned);
      return;
    }
    // Revoked (or an error: give everything up as well). Committed first when asked.
    std::vector<std::uint32_t> revoked = assignment_;
    if (options_.auto_commit && dirty_) {
      if (Status s = commit_positions(revoked, false); !s && topic_->hooks().logging()) {
        topic_->hooks().log().log(LogLevel::warning, "kafka",
                                  "group '{}': commit before revoke failed: {}", group_,
                                  s.message());
      }
    }
    if (!closing_ && !revoked.empty() && options_.on_revoked) options_.on_revoked(revoked);
    (void)rd_kafka_assign(consumer_, nullptr);
    assignment_.clear();
  } catch (...) {
    // A callback must not throw; a throwing one does not break the member.
  }
}

Status KafkaMember::check_owned(std::uint32_t partition) const {
  if (partition >= position_.size()) {
    return Status(Errc::out_of_range, "partition " + std::to_string(partition) + " of topic '" +
                                          topic_->name() + "' (it has " +
                                          std::to_string(position_.size()) + ")");
  }
  if (!std::binary_search(assignment_.begin(), assignment_.end(), partition)) {
    return Status(Errc::not_owner,
                  "partition " + std::to_string(partition) + " of topic '" + topic_->name() +
                      "' is not assigned to this member of group '" + group_ + "'");
  }
  return {};
}

Result<PollBatch> KafkaMember::poll(std::size_t max, Duration timeout) noexcept {
  PollBatch batch;
  if (Status s = poll(batch, max, timeout); !s) return Result<PollBatch>(s.failure());
  return batch;
}

Status KafkaMember::poll(PollBatch& batch, std::size_t max, Duration timeout) noexcept {
  batch.clear();
  if (closed()) return Status(Errc::closed, "member of group '" + group_ + "' is closed");
  if (options_.auto_commit && dirty_) auto_commit();
  auto& records = Access::records(batch);
  const Hooks& hooks = topic_->hooks();
  std::optional<Failure> error;
  try {
    if (records.capacity() < max) records.reserve(std::min<std::size_t>(max, 4096));
    const int wait = millis(timeout);
    while (records.size() < max) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, records.empty() ? wait : 0);
      if (m == nullptr) break;
      struct Release {
        rd_kafka_message_t* m;
        ~Release() { rd_kafka_message_destroy(m); }
      } release{m};
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // Transient errors (a broker down, a leader moving) are librdkafka's to retry: logged.
        if (hooks.logging()) {
          hooks.log().log(LogLevel::warning, "kafka", "group '{}' of topic '{}': {}", group_,
                          topic_->name(), rd_kafka_message_errstr(m));
        }
        if (m->err == RD_KAFKA_RESP_ERR__FATAL || errc_of(m->err) == Errc::unauthorized) {
          error = failure_of(m->err, "group '" + group_ + "'");
        }
        break;
      }
      const auto p = static_cast<std::uint32_t>(m->partition);
      if (p >= position_.size()) continue;
      if (m->key_len > 65535) {
        // A Message's key holds 65535 bytes: skipped, and said so.
        hooks.log().log(LogLevel::error, "kafka",
                        "topic '{}' partition {} offset {}: key of {} bytes skipped (over 65535)",
                        topic_->name(), p, m->offset, m->key_len);
      } else {
        records.push_back(Record{to_message(*m), p, static_cast<std::uint64_t>(m->offset)});
      }
      position_[p] = m->offset + 1;
      moved_[p] = true;
      dirty_ = true;
    }
  } catch (...) {
    if (records.empty()) return Status(Errc::out_of_memory, "polling kafka");
  }
  publish_lag();
  if (records.empty() && error) return Status(std::move(*error));
  if (hooks.intercepting()) [[unlikely]] {
    for (const Record& record : records) {
      hooks.each("on_poll", [&](Interceptor& i) { i.on_poll(topic_->name(), group_, record); });
    }
  }
  return {};
}

Status KafkaMember::commit_positions(const std::vector<std::uint32_t>& partitions,
                                     bool async) noexcept {
  try {
    const std::vector<std::uint32_t>& which = partitions.empty() ? assignment_ : partitions;
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(which.size())));
    std::vector<std::uint32_t> sent;
    for (std::uint32_t p : which) {
      if (p >= position_.size() || !moved_[p] || position_[p] < 0) continue;
      rd_kafka_topic_partition_list_add(list.get(), topic_->name().c_str(), static_cast<int32_t>(p))
          ->offset = position_[p];
      sent.push_back(p);
    }
    if (!sent.empty()) {
      const rd_kafka_resp_err_t err =
          async ? rd_kafka_commit_queue(consumer_, list.get(), queue_, &KafkaMember::on_committed,
                                        this)
                : rd_kafka_commit(consumer_, list.get(), 0);
      if (err) {
        return Status(
            failure_of(err, "group '" + group_ + "' of topic '" + topic_->name() + "': commit"));
      }
      if (!async) report_commits(*list);
      for (std::uint32_t p : sent) moved_[p] = false;
    }
    dirty_ = std::find(moved_.begin(), moved_.end(), true) != moved_.end();
    return {};
  } catch (...) {
    return Status(Errc::out_of_memory, "committing to kafka");
  }
}

void KafkaMember::on_committed(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* member = static_cast<KafkaMember*>(opaque);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && offsets != nullptr) {
    member->report_commits(*offsets);
  } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET && member->topic_->hooks().logging()) {
    member->topic_->hooks().log().log(LogLevel::warning, "kafka",
                                      "group '{}': auto-commit failed: {}", member->group_,
                                      rd_kafka_err2str(err));
  }
}

void KafkaMember::report_commits(const rd_kafka_topic_partition_list_t& offsets) const noexcept {
  const Hooks& hooks = topic_->hooks();
  if (!hooks.intercepting()) return;
  for (int i = 0; i < offsets.cnt; ++i) {
    const rd_kafka_topic_partition_t& p = offsets.elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.offset < 0) continue;
    hooks.each("on_commit", [&](Interceptor& interceptor) {
      interceptor.on_commit(topic_->name(), group_, static_cast<std::uint32_t>(p.partition),
                            static_cast<std::uint64_t>(p.offset));
    });
  }
}

Status KafkaMember::commit() noexcept {
  if (closed_.load(std::memory_order_acquire)) return Status(Errc::closed, "member is closed");
  return commit_positions({}, false);
}

void KafkaMember::auto_commit() noexcept {
  if (Status s = commit_positions({}, true); !s && topic_->hooks().logging()) {
    topic_->hooks().log().log(LogLevel::warning, "kafka", "group '{}': auto-commit failed: {}",
                              group_, s.message());
  }
}

Status KafkaMember::check_within_log(std::uint32_t partition, std::uint64_t offset,
                                     std::string_view what) const {
  std::int64_t low = 0, high = 0;
  if (const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          consumer_, topic_->name().c_str(), static_cast<int32_t>(partition), &low, &high,
          millis(topic_->kafka_options().request_timeout))) {
    return Status(failure_of(err, std::string(what) + ": the partition's log end"));
  }
  if (offset > static_cast<std::uint64_t>(high)) {
    return Status(Errc::out_of_range,
                  "offset " + std::to_string(offset) + " past the log end " + std::to_string(high));
  }
  return {};
}

Status KafkaMember::commit(std::uint32_t partition, std::uint64_t offset) noexcept {
  if (Status s = check_owned(partition); !s) return s;
  try {
    if (Status s = check_within_log(partition, offset, "commit"); !s) return s;
    auto list = one_partition(topic_->name(), partition, static_cast<std::int64_t>(offset));
    if (const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_, list.get(), 0)) {
      return Status(failure_of(err, "group '" + group_ + "': commit"));
    }
    report_commits(*list);
    return {};
  } catch (...) {
    return Status(Errc::out_of_memory, "committing to kafka");
  }
}

Status KafkaMember::seek(std::uint32_t partition, std::uint64_t offset) noexcept {
  if (Status s = check_owned(partition); !s) return s;
  try {
    if (Status s = check_within_log(partition, offset, "seek"); !s) return s;
    auto list = one_partition(topic_->name(), partition, static_cast<std::int64_t>(offset));
    if (rd_kafka_error_t* error = rd_kafka_seek_partitions(
            consumer_, list.get(), millis(topic_->kafka_options().request_timeout))) {
      Status s(failure_of(rd_kafka_error_code(error), "seek"));
      rd_kafka_error_destroy(error);
      return s;
    }
    position_[partition] = static_cast<std::int64_t>(offset);
    moved_[partition] = true;
    dirty_ = true;
    return {};
  } catch (...) {
    return Status(Errc::out_of_memory, "seeking on kafka");
  }
}

Status KafkaMember::set_paused(std::uint32_t partition, bool paused) noexcept {
  if (Status s = check_owned(partition); !s) return s;
  try {
    auto list = one_partition(topic_->name(), partition, RD_KAFKA_OFFSET_INVALID);
    const rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(consumer_, list.get())
                                           : rd_kafka_resume_partitions(consumer_, list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status(failure_of(err, "pause"));
    return {};
  } catch (...) {
    return Status(Errc::out_of_memory, "pausing on kafka");
  }
}

Result<std::int64_t> KafkaMember::committed_raw(std::uint32_t partition) const noexcept {
  try {
    auto list = one_partition(topic_->name(), partition, RD_KAFKA_OFFSET_INVALID);
    if (const rd_kafka_resp_err_t err = rd_kafka_committed(
            consumer_, list.get(), millis(topic_->kafka_options().request_timeout))) {
      return Result<std::int64_t>(failure_of(err, "committed offset"));
    }
    return list->elems[0].offset < 0 ? std::int64_t{-1} : list->elems[0].offset;
  } catch (...) {
    return Result<std::int64_t>(Errc::out_of_memory, "asking kafka");
  }
}

Result<std::uint64_t> KafkaMember::committed(std::uint32_t partition) const noexcept {
  if (partition >= position_.size()) {
    return Result<std::uint64_t>(Errc::out_of_range, "partition " + std::to_string(partition));
  }
  auto c = committed_raw(partition);
  if (!c) return Result<std::uint64_t>(c.failure());
  if (*c >= 0) return static_cast<std::uint64_t>(*c);
  // Never committed: where the group starts (auto.offset.reset).
  std::int64_t low = 0, high = 0;
  if (const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          consumer_, topic_->name().c_str(), static_cast<int32_t>(partition), &low, &high,
          millis(topic_->kafka_options().request_timeout))) {
    return Result<std::uint64_t>(failure_of(err, "watermarks"));
  }
  return static_cast<std::uint64_t>(options_.start == Start::earliest ? low : high);
}

Result<std::uint64_t> KafkaMember::lag(std::uint32_t partition) const noexcept {
  auto c = committed(partition);
  if (!c) return c;
  std::int64_t low = 0, high = 0;
  if (const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
          consumer_, topic_->name().c_str(), static_cast<int32_t>(partition), &low, &high,
          millis(topic_->kafka_options().request_timeout))) {
    return Result<std::uint64_t>(failure_of(err, "watermarks"));
  }
  const auto end = static_cast<std::uint64_t>(high);
  return end > *c ? end - *c : 0;
}

Result<std::uint64_t> KafkaMember::position(std::uint32_t partition) const noexcept {
  if (Status s = check_owned(partition); !s) return Result<std::uint64_t>(s.failure());
  if (position_[partition] >= 0) return static_cast<std::uint64_t>(position_[partition]);
  return committed(partition);
}

void KafkaMember::wakeup() noexcept {
  rd_kafka_queue_yield(queue_);
}

void KafkaMember::close() noexcept {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  closing_ = true;
  if (options_.auto_commit && dirty_) {
    if (Status s = commit_positions({}, false); !s && topic_->hooks().logging()) {
      topic_->hooks().log().log(LogLevel::warning, "kafka",
                                "group '{}': commit at close failed: {}", group_, s.message());
    }
  }
  (void)rd_kafka_consumer_close(consumer_);  // leaves the group (its revoke runs here)
  topic_->member_left(this);
}

Result<int> KafkaMember::ready_fd() noexcept {
  return Result<int>(Errc::invalid_argument,
                     "ready_fd is not carried by transport kafka (poll with a timeout)");
}

}  // namespace switchyard::detail::kafka
