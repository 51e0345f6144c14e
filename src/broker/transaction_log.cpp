#include "broker/transaction_log.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "durable/durable_partition_log.hpp"
#include "durable/queue_journal.hpp"
#include "storage/segment_format.hpp"
#include "topic/topic_state.hpp"

namespace switchyard::detail {

namespace {

class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) : out_(out) {}
  template <class T>
  void put(T v) {
    const std::size_t at = out_.size();
    out_.resize(at + sizeof v);
    store<T>(out_.data() + at, v);
  }
  void put_bytes(std::span<const std::byte> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  void put_str(std::string_view s) {
    // Names (255 bytes), dedup ids and groups: each far below a u16; longer is cut by callers'
    // checks (Transaction refuses them before logging).
    put<std::uint16_t>(static_cast<std::uint16_t>(s.size()));
    put_bytes({reinterpret_cast<const std::byte*>(s.data()), s.size()});
  }

 private:
  std::vector<std::byte>& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  bool get(T& v) {
    if (in_.size() - at_ < sizeof v) return false;
    v = load<T>(in_.data() + at_);
    at_ += sizeof v;
    return true;
  }
  bool get_bytes(std::size_t n, std::span<const std::byte>& out) {
    if (in_.size() - at_ < n) return false;
    out = in_.subspan(at_, n);
    at_ += n;
    return true;
  }
  bool get_str(std::string& s) {
    std::uint16_t n = 0;
    std::span<const std::byte> bytes;
    if (!get(n) || !get_bytes(n, bytes)) return false;
    s.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return true;
  }
  [[nodiscard]] std::size_t at() const noexcept { return at_; }
  [[nodiscard]] bool done() const noexcept { return at_ == in_.size(); }

 private:
  std::span<const std::byte> in_;
  std::size_t at_ = 0;
};

void put_header(Writer& w, transaction_record::Kind kind, std::uint32_t parts, std::uint64_t id) {
  w.put<std::uint8_t>(kind);
  w.put<std::uint8_t>(transaction_record::kVersion);
  w.put<std::uint16_t>(0);
  w.put<std::uint32_t>(parts);
  w.put<std::uint64_t>(id);
}

Failure corrupt_at(std::size_t at, std::string_view what) {
  return {Errc::corrupt, fmt::format("transaction record: {} at byte {}", what, at)};
}

}  // namespace

std::vector<std::byte> encode_commit(const LoggedTransaction& tx) {
  std::vector<std::byte> out;
  Writer w(out);
  put_header(w, transaction_record::commit,
             static_cast<std::uint32_t>(tx.sends.size() + tx.acks.size() + tx.offsets.size()),
             tx.id);
  std::vector<std::byte> body;
  for (const LoggedSend& s : tx.sends) {
    w.put<std::uint8_t>(transaction_record::send);
    w.put_str(s.destination);
    w.put_str(s.dedup_id);
    w.put<std::uint8_t>(s.partition ? 1 : 0);
    w.put<std::uint32_t>(s.partition.value_or(0));
    w.put<std::int64_t>(s.delay_ns);
    w.put<std::int64_t>(s.ttl_ns);
    body.clear();
    encode(fields_of(s.message), body);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(body.size()));
    w.put_bytes(body);
  }
  for (const LoggedAck& a : tx.acks) {
    w.put<std::uint8_t>(transaction_record::ack);
    w.put_str(a.queue);
    w.put<std::uint64_t>(a.message_id);
  }
  for (const LoggedOffset& o : tx.offsets) {
    w.put<std::uint8_t>(transaction_record::offset);
    w.put_str(o.topic);
    w.put_str(o.group);
    w.put<std::uint32_t>(o.partition);
    w.put<std::uint64_t>(o.offset);
  }
  return out;
}

std::vector<std::byte> encode_done(std::uint64_t id) {
  std::vector<std::byte> out;
  Writer w(out);
  put_header(w, transaction_record::done, 0, id);
  return out;
}

Result<DecodedTransactionRecord> decode_transaction_record(std::span<const std::byte> body) try {
  Reader r(body);
  std::uint8_t kind = 0, version = 0;
  std::uint16_t zero = 0;
  std::uint32_t parts = 0;
  DecodedTransactionRecord out;
  if (!r.get(kind) || !r.get(version) || !r.get(zero) || !r.get(parts) || !r.get(out.tx.id)) {
    return corrupt_at(r.at(), "header cut short");
  }
  if (version != transaction_record::kVersion) return corrupt_at(1, "unknown version");
  if (kind != transaction_record::commit && kind != transaction_record::done) {
    return corrupt_at(0, "unknown kind");
  }
  out.kind = static_cast<transaction_record::Kind>(kind);
  if (kind == transaction_record::done && parts != 0) return corrupt_at(4, "done with parts");
  for (std::uint32_t i = 0; i < parts; ++i) {
    std::uint8_t type = 0;
    const std::size_t at = r.at();
    if (!r.get(type)) return corrupt_at(at, "part cut short");
    switch (type) {
      case transaction_record::send: {
        LoggedSend s;
        std::uint8_t has_partition = 0;
        std::uint32_t partition = 0, length = 0;
        std::span<const std::byte> message;
        if (!r.get_str(s.destination) || !r.get_str(s.dedup_id) || !r.get(has_partition) ||
            !r.get(partition) || !r.get(s.delay_ns) || !r.get(s.ttl_ns) || !r.get(length) ||
            !r.get_bytes(length, message)) {
          return corrupt_at(at, "send part cut short");
        }
        if (has_partition > 1) return corrupt_at(at, "bad partition flag");
        if (has_partition) s.partition = partition;
        auto decoded = decode_stored_message(message);
        if (!decoded) return corrupt_at(at, "send message: " + decoded.message());
        s.message = std::move(*decoded);
        out.tx.sends.push_back(std::move(s));
        break;
      }
      case transaction_record::ack: {
        LoggedAck a;
        if (!r.get_str(a.queue) || !r.get(a.message_id)) return corrupt_at(at, "ack cut short");
        out.tx.acks.push_back(std::move(a));
        break;
      }
      case transaction_record::offset: {
        LoggedOffset o;
        if (!r.get_str(o.topic) || !r.get_str(o.group) || !r.get(o.partition) || !r.get(o.offset)) {
          return corrupt_at(at, "offset part cut short");
        }
        out.tx.offsets.push_back(std::move(o));
        break;
      }
      default:
        return corrupt_at(at, "unknown part type");
    }
  }
  if (!r.done()) return corrupt_at(r.at(), "bytes after the last part");
  return out;
} catch (const std::bad_alloc&) {
  return Failure{Errc::out_of_memory, "transaction record"};
}

std::unique_ptr<TransactionLog> TransactionLog::open(const std::filesystem::path& data_dir,
                                                     SegmentLogOptions options) {
  options.durability = Durability::none;  // commits sync explicitly (write_commit)
  if (options.segment_bytes == 0 || options.segment_bytes > (1ull << 20)) {
    options.segment_bytes = 1ull << 20;
  }
  std::unique_ptr<TransactionLog> log(
      new TransactionLog(data_dir / "transactions", std::move(options)));
  MutexLock lock(log->mutex_);
  std::error_code ec;
  if (!std::filesystem::exists(log->dir_, ec)) return log;  // made by the first commit
  if (auto opened = log->open_log_locked(); !opened) {
    throw Error(opened.code(), "transaction log: " + opened.message());
  }
  std::uint64_t highest = 0;
  for (std::uint64_t from = log->log_->start_offset();;) {
    auto batch = log->log_->read(from, 1024);
    if (!batch) throw Error(batch.code(), "transaction log: " + batch.message());
    if (batch->records.empty()) break;
    for (const RecordView& record : batch->records) {
      auto decoded = decode_transaction_record(record.body);
      if (!decoded) {
        throw Error(decoded.code(), fmt::format("{}: record at offset {}: {}", log->dir_.string(),
                                                record.offset, decoded.message()));
      }
      highest = std::max(highest, decoded->tx.id);
      if (decoded->kind == transaction_record::done) {
        log->pending_.erase(decoded->tx.id);
      } else {
        log->pending_[decoded->tx.id] = std::move(decoded->tx);
      }
    }
    from = batch->next_offset;
  }
  for (const auto& [id, tx] : log->pending_) {
    for (const LoggedSend& s : tx.sends) log->unfound_.insert(s.message.id);
  }
  log->next_id_.store(highest + 1, std::memory_order_relaxed);  // before any thread sees it
  return log;
}

Status TransactionLog::open_log_locked() {
  if (log_) return {};
  auto opened = SegmentLog::open(dir_, options_);
  if (!opened) return opened.failure();
  log_ = std::move(*opened);
  return {};
}

Status TransactionLog::write_commit(const LoggedTransaction& tx) noexcept try {
  const auto record = encode_commit(tx);
  SegmentLog* log = nullptr;
  {
    // Appended and registered as in flight together, so that no done's clean-up can delete
    // its segment in between.
    MutexLock lock(mutex_);
    if (auto opened = open_log_locked(); !opened) return opened;
    auto appended = log_->append(record, 0);
    if (!appended) return appended.failure();
    in_flight_.emplace(tx.id, *appended);
    log = log_.get();  // set once, never reset: usable outside the lock
  }
  // The commit point. Outside the lock: concurrent commits share a sync. A failed sync makes
  // the log read-only (storage/segment_log.hpp): this and every later commit fail.
  if (auto synced = log->sync(); !synced) {
    MutexLock lock(mutex_);
    in_flight_.erase(tx.id);
    return synced;
  }
  return {};
} catch (const std::bad_alloc&) {
  return Status(Errc::out_of_memory, "transaction log");
}

Status TransactionLog::write_done(std::uint64_t id) noexcept try {
  MutexLock lock(mutex_);
  return append_done_locked(id);
} catch (const std::bad_alloc&) {
  return Status(Errc::out_of_memory, "transaction log");
}

Status TransactionLog::append_done_locked(std::uint64_t id) {
  if (!log_) return Status(Errc::closed, "transaction log never opened");
  // Unsynced: a done lost to a power cut only makes recovery apply idempotent parts again.
  auto appended = log_->append(encode_done(id), 0);
  in_flight_.erase(id);
  if (!appended) return appended.failure();
  // Sealed segments before the oldest commit still in flight hold finished transactions only.
  if (log_->segment_count() > 1) {
    const std::uint64_t keep =
        in_flight_.empty()
            ? log_->end_offset()
            : std::min_element(in_flight_.begin(), in_flight_.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; })
                  ->second;
    auto removed = log_->truncate_prefix(keep);
    (void)removed;  // best effort: a segment kept is re-read at open, its transactions done
  }
  return {};
}

std::size_t TransactionLog::pending() const {
  MutexLock lock(mutex_);
  return pending_.size();
}

Status TransactionLog::note_ids(const SegmentLog& log) {
  if (unfound_.empty()) return {};
  for (std::uint64_t from = log.start_offset();;) {
    auto batch = log.read(from, 1024);
    if (!batch) return batch.failure();
    if (batch->records.empty()) break;
    for (const RecordView& record : batch->records) {
      // The id is the first field of a stored message (durable/stored_message.hpp); a record
      // that does not decode is the destination's own recovery's business.
      auto stored = decode_stored_message(record.body);
      if (stored) unfound_.erase(stored->id);
    }
    from = batch->next_offset;
  }
  return {};
}

Status TransactionLog::recover_queue(std::string_view name, QueueJournal& journal) {
  MutexLock lock(mutex_);
  if (pending_.empty()) return {};
  std::set<std::uint64_t> acked;
  for (const auto& [id, tx] : pending_) {
    for (const LoggedAck& a : tx.acks) {
      if (a.queue == name) acked.insert(a.message_id);
    }
  }
  if (!acked.empty()) {
    auto unsettled = journal.recover();
    if (!unsettled) return unsettled.failure();
    for (const RecoveredMessage& m : *unsettled) {
      if (!acked.contains(m.message.id)) continue;
      if (auto status = journal.record_ack(m.seq); !status) return status;
    }
    if (auto status = journal.sync(); !status) return status;
  }
  return note_ids(journal.messages());
}

Status TransactionLog::recover_topic(std::string_view name, TopicStorage& storage) {
  MutexLock lock(mutex_);
  if (pending_.empty()) return {};
  for (const auto& [id, tx] : pending_) {
    for (const LoggedOffset& o : tx.offsets) {
      if (o.topic != name || !storage.offsets) continue;
      // Never back: a commit at or past it was made after this transaction's commit point.
      const auto stored = storage.offsets->find(o.group, o.partition);
      if (stored && *stored >= o.offset) continue;
      const std::pair<std::uint32_t, std::uint64_t> entry{o.partition, o.offset};
      if (auto status = storage.offsets->commit(o.group, std::span(&entry, 1)); !status) {
        return status;
      }
    }
  }
  for (const auto& partition : storage.partitions) {
    const auto* durable = dynamic_cast<const DurablePartitionLog*>(partition.get());
    if (durable == nullptr) continue;
    if (auto status = note_ids(durable->log()); !status) return status;
  }
  return {};
}

std::vector<LoggedSend> TransactionLog::unapplied_sends() const {
  MutexLock lock(mutex_);
  std::vector<LoggedSend> out;
  for (const auto& [id, tx] : pending_) {
    for (const LoggedSend& s : tx.sends) {
      if (unfound_.contains(s.message.id)) out.push_back(s);
    }
  }
  return out;
}

Status TransactionLog::finish() {
  MutexLock lock(mutex_);
  for (const auto& [id, tx] : pending_) {
    if (auto status = append_done_locked(id); !status) return status;
  }
  const bool any = !pending_.empty();
  pending_.clear();
  unfound_.clear();
  return any ? log_->sync() : Status{};
}

}  // namespace switchyard::detail
