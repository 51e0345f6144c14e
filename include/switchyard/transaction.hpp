// switchyard/transaction.hpp — consume, transform, produce: sends, acks and offset commits
// that take effect together or not at all.
//
// The outbox and consume-transform-produce patterns, in process. Kafka offers this between
// Kafka topics only, through a transaction coordinator (`initTransactions`, `send`,
// `sendOffsetsToTransaction`, `commitTransaction` / `abortTransaction`); RabbitMQ's channel
// transactions (`tx.select`, `tx.commit`, `tx.rollback`) group publishes and acks of one
// channel. Here one transaction spans every queue, topic and exchange of one broker:
//
//     auto tx = broker.begin();
//     tx.send("shipments", order.payload().as_string());       // any destination
//     tx.ack(order);                                            // a queue delivery
//     tx.commit_offset(member, record.partition, record.offset + 1);  // a group's offset
//     auto ids = tx.commit();                                   // all of it, or none
//
// Semantics
//   * Nothing takes effect before `commit`: a send is buffered in the transaction (consumers
//     never see a send of an uncommitted transaction), an ack leaves its delivery in flight,
//     an offset stays uncommitted. `abort` (or destroying an open transaction) drops them all:
//     every delivery stays in flight as before, its lease running on (RabbitMQ's tx.rollback
//     does not requeue either).
//   * `commit` first checks every part — each destination exists, each delivery is still held
//     (its lease is renewed, as `Delivery::extend`, so it cannot run out during the commit),
//     each partition is still the member's — and fails with nothing done if one does not.
//     Then it reaches the commit point, then applies the parts: the sends in order, then the
//     offset commits, then the acks. Sends take effect when they are applied: a delay or a TTL
//     counts from the commit, a dedup id is deduplicated against the queue's window then.
//   * Retention and TTL act on a transaction's messages as on any others, from their apply.
//     Durability levels are the destinations' own (below).
//   * Visibility is per destination, as in Kafka: a consumer of one destination may see the
//     transaction's send there before another destination has it; every part is committed
//     once the commit point is passed.
//
// Durability: the commit point (broker with a data_dir)
//   The commit point is one record in the broker's transaction log, `<data_dir>/transactions`
//   (src/broker/transaction_log.hpp has its byte layout), holding every part — each send's
//   message, id and options; each ack as queue and message id; each offset as topic, group,
//   partition and offset. It is synced before any part is applied, and a `done` record follows
//   once all are. On restart, a transaction with a commit record and no `done` is applied
//   again as each durable destination opens: its acks are recorded in the queue's journal
//   (the message does not come back), its offsets written to the topic's checkpoint, and each
//   send whose message id is in no durable destination is sent again, with the same id. So a
//   kill -9 at any moment during `commit` leaves after restart all of the transaction or none
//   of it (tests/broker/transaction_crash_test.cpp). The transaction is as durable as its
//   destinations: a part applied to a destination of `Durability::none` survives a crash of
//   the process, not a power cut. Without a data_dir nothing is logged.
//   Limits: a commit whose log sync fails returns `io_error` with nothing applied, but its
//   record may be in the page cache and be applied by the next open (an unknown outcome, as
//   Kafka's commitTransaction timing out). A part refused after the commit point — a queue
//   that filled up since the check and rejects, a rebalance taking the partition — cannot be
//   undone for the others: commit returns that error naming the part, having applied the rest.
//   Recovery finds an applied send by its id in the durable destinations' logs; a send applied,
//   consumed and acked whose segment was then deleted (or aged out by a topic's retention),
//   all before the crash, would be sent again.
//
// Threads and locks: a Transaction is thread-compatible (one thread at a time, like a
// Producer); different transactions commit concurrently. A commit holds no destination's lock
// across parts: each part takes what its own call takes (a send the queue's, an ack the
// consumer's, an offset the group's); the transaction log serialises its own appends.
//
// Errors (all typed): `closed` — the transaction was committed or aborted already, or the
// broker stopped; `unknown_destination` — a send's destination does not exist (deleted since);
// `stale_delivery` — a delivery acked, nacked, taken back or expired before the commit;
// `invalid_delivery` — an empty delivery, or one already in this transaction; `not_owner` /
// `out_of_range` — an offset of a partition the member no longer owns, or past the log end;
// a send's own errors (`invalid_argument`, `payload_too_large`, `full`, ...), and the log's
// (`io_error`, `disk_full`) at the commit point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "switchyard/delivery.hpp"
#include "switchyard/error.hpp"
#include "switchyard/export.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/message.hpp"
#include "switchyard/send_options.hpp"

namespace switchyard {

namespace detail {
class Access;
struct TransactionState;
}  // namespace detail

/// A group of sends, acks and offset commits applied together by `commit` or dropped by
/// `abort` (semantics, durability and errors: the file comment). Made by `Broker::begin()`.
/// Move-only; destroying an open transaction aborts it.
class SWITCHYARD_EXPORT Transaction {
 public:
  Transaction() noexcept;  ///< empty: every call returns `closed`
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  ~Transaction();

  /// Adds a send of `payload` (copied now) to `destination` (a queue, topic or exchange), with
  /// `options` (copied; `on_complete` is called at commit, once the send is applied).
  /// `invalid_argument` for options no send would take; `closed` after commit or abort.
  Status send(std::string_view destination, std::string_view payload,
              const SendOptions& options = {});
  Status send(std::string_view destination, std::span<const std::byte> payload,
              const SendOptions& options = {});
  /// RabbitMQ-style: `send` with `options.key = routing_key`.
  Status publish(std::string_view exchange, std::string_view routing_key, std::string_view payload,
                 SendOptions options = {});
  /// Adds the ack of `delivery`, applied at commit. `delivery` is referred to, not taken: it
  /// must live until this transaction commits or aborts (after an abort it is still yours, in
  /// flight). `invalid_delivery` for an empty one or one already in this transaction,
  /// `stale_delivery` for one already settled.
  Status ack(Delivery& delivery);
  /// Adds the commit of `offset` (the next offset to read, Kafka's convention) of `member`'s
  /// group for `partition`, applied at commit (Kafka's sendOffsetsToTransaction). `member`
  /// must live until this transaction commits or aborts. `not_owner` / `out_of_range` as
  /// `GroupConsumer::commit` says, checked now and again at commit.
  Status commit_offset(GroupConsumer& member, std::uint32_t partition, std::uint64_t offset);

  /// Applies every part, all or nothing (see the file comment); returns the message id of each
  /// send, in the order they were added. Afterwards the transaction is closed, whatever the
  /// outcome. Blocks for the log's sync (with a data_dir) and as each send's destination says.
  Result<std::vector<MessageId>> commit();
  /// Drops every part; deliveries stay in flight. Idempotent; closes the transaction.
  void abort() noexcept;

  /// True until commit or abort.
  [[nodiscard]] bool open() const noexcept;
  /// How many parts (sends, acks, offsets) the transaction holds.
  [[nodiscard]] std::size_t size() const noexcept;
  explicit operator bool() const noexcept { return open(); }

 private:
  friend class detail::Access;
  explicit Transaction(std::unique_ptr<detail::TransactionState> state) noexcept;

  std::unique_ptr<detail::TransactionState> state_;
};

}  // namespace switchyard
