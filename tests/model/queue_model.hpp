// tests/model/queue_model.hpp — a plain, single-threaded reference model of one switchyard
// queue ("q") and its dead-letter queue ("dlq"), and the driver that runs one operation
// sequence against the real Broker (ManualClock, one thread, pull API, zero timeouts) and the
// model, comparing every observable result after every step. Written from the contracts in
// include/switchyard/queue.hpp, delivery.hpp, consumer.hpp, send_options.hpp and README.md
// ("Queues", "Persistence"), not from src/.
//
// What it models
//   ready / delayed / in flight; the visibility timeout (a timed-out delivery is taken back
//   when the queue is next received from — until then its ack still wins, as in SQS);
//   attempts; retry backoff (Backoff::after); max_deliveries; dead letters with x-death-queue,
//   x-death-reason, x-death-attempts and the original headers; TTL per send and per queue (the
//   shorter wins; an expired message is never delivered); on_expiry; priority levels (higher
//   first, above max_priority counts as max_priority, FIFO within a level, redelivered ahead
//   of new ones of their level, a delayed one joining its level when due); message groups (in order,
//   one in flight per group); the dedup window (a repeat returns the first id; a refused send is
//   not remembered); capacity with reject / block (send_timeout 0) / drop_oldest; prefetch;
//   consumer close (held messages return with their attempts); single and batch receive;
//   ack / nack(requeue) / nack(false) / reject(reason) / extend and a second settle (stale);
//   exact counters (enqueued, deduplicated, delivered, redelivered, acked, nacked,
//   rejected_full, consumers, in_flight) and depth / expired / dead_lettered / dropped within
//   what lazily met expiries allow; for a durable queue, restart (close the broker, reopen the
//   data directory): every unacknowledged message comes back with its attempts, delays kept.
//
// Where the contract leaves a choice the model accepts every allowed outcome and then follows
// the broker's ("candidate sets"): messages returned at one instant (one visibility scan, one
// close, one restart) come back in any order among themselves; the order between groups, and
// between a group's head and ungrouped messages, is not specified; an expired message leaves
// when a receive meets it, so the DLQ is a bag; which message drop_oldest takes is pinned down
// by the DLQ (the drop_oldest generator always has one and drains it at once).
//
// What it does not model yet
//   Overflow::block with a real wait, send_batch, ack_all, push consumers (run), per-consumer
//   prefetch, interceptors, max_payload, delete_queue, shutdown(drain); dedup ids, TTL and
//   backoff on durable queues (their restart semantics are not written down); per-send delays
//   on grouped messages (a delayed member's place in its group is not specified); drop_oldest
//   with TTL, priorities, delays or groups ("oldest" is then ambiguous); counters across a
//   restart (they restart from zero; the model takes them over).
#pragma once

#include "model/model_core.hpp"

#include <filesystem>
#include <map>
#include <sstream>

namespace switchyard::model {

/// "Never" in the model's milliseconds: far beyond any clock a sequence reaches, far from
/// overflowing when added to it.
inline constexpr std::int64_t kNeverMs = std::int64_t{1} << 60;

enum QueueOpKind : std::uint8_t {
  q_send,           // a: priority, b: delay ms, c: ttl ms, d: group (0 none), e: dedup id (0 none)
  q_receive,        // a: consumer
  q_receive_batch,  // a: consumer, b: max
  q_ack,            // a: which held delivery
  q_nack,           // a: which held delivery
  q_nack_drop,      // a: which held delivery (nack(false))
  q_reject,         // a: which held delivery
  q_extend,         // a: which held delivery
  q_settle_again,   // a: which settled delivery (ack again: stale)
  q_advance,        // a: ms
  q_close,          // a: consumer
  q_receive_dlq,    //
  q_restart,        //
  q_kinds
};

struct QueueScenario {
  bool durable = false;
  QueueOptions options{};
  bool dlq = false;
  bool priorities = false, groups = false, delays = false, ttls = false, dedup = false;
  std::uint64_t seed = 0;

  [[nodiscard]] std::string describe() const {
    std::ostringstream s;
    const auto& o = options;
    s << "queue scenario: durable=" << durable << " capacity=" << o.capacity
      << " overflow=" << static_cast<int>(o.overflow) << " max_deliveries=" << o.max_deliveries
      << " dlq=" << dlq << " prefetch=" << o.prefetch << " visibility_ms="
      << (o.visibility_timeout == Duration::max()
              ? -1
              : std::chrono::duration_cast<Ms>(o.visibility_timeout).count())
      << " backoff_ms=" << std::chrono::duration_cast<Ms>(o.retry_backoff.initial).count()
      << " delay_ms=" << std::chrono::duration_cast<Ms>(o.delay).count()
      << " ttl_ms=" << std::chrono::duration_cast<Ms>(o.ttl).count()
      << " on_expiry=" << static_cast<int>(o.on_expiry)
      << " dedup_window_ms=" << std::chrono::duration_cast<Ms>(o.dedup_window).count()
      << " max_priority=" << static_cast<int>(o.max_priority) << " features(prio,groups,delays,"
      << "ttls,dedup)=" << priorities << groups << delays << ttls << dedup;
    return s.str();
  }
};

inline QueueScenario queue_scenario(Source& src, bool durable) {
  QueueScenario s;
  s.durable = durable;
  auto& o = s.options;
  const bool dropping = !durable && src.chance(20);
  o.capacity = src.chance(50) ? src.range(1, 6) : 1000;
  o.overflow = dropping         ? Overflow::drop_oldest
               : src.chance(50) ? Overflow::reject
                                : Overflow::block;
  o.send_timeout = Duration{0};
  o.max_deliveries = src.chance(50) ? src.range(1, 4) : 0;
  s.dlq = dropping || src.chance(60);
  o.prefetch = src.range(1, 4);
  o.visibility_timeout = src.chance(25) ? Duration{0} : Ms(src.range(5, 60));
  o.max_priority = static_cast<std::uint8_t>(src.chance(50) ? 0 : src.range(1, 9));
  s.priorities = !dropping && src.chance(50);
  s.groups = !dropping && src.chance(40);
  s.delays = !dropping && src.chance(40);
  s.ttls = !dropping && !durable && src.chance(40);
  s.dedup = !durable && src.chance(40);
  if (!dropping && !durable && src.chance(40)) {
    const std::uint32_t initial = src.range(1, 20);  // max ≥ initial, as declare requires
    o.retry_backoff = Backoff{Ms(initial), 2.0, Ms(src.range(std::max(initial, 5u), 50))};
  }
  if (s.delays && !s.groups && src.chance(30)) o.delay = Ms(src.range(1, 30));
  if (s.ttls && src.chance(40)) o.ttl = Ms(src.range(5, 80));
  o.on_expiry = src.chance(50) ? OnExpiry::dead_letter : OnExpiry::drop;
  o.dedup_window = Ms(src.range(5, 100));
  if (durable) o.durability = durable_level(src.below(4));
  if (src.chance(10))
    o.visibility_timeout = Duration::max();
  if (s.dlq) o.dead_letter = "dlq";
  return s;
}

inline Op queue_op(Source& src, const QueueScenario& s) {
  Op op;
  const std::uint32_t roll = src.below(100);
  if (roll < 30) {
    op.kind = q_send;
    op.a = s.priorities ? src.below(12) : 0;
    const bool grouped = s.groups && src.chance(50);
    // Per-send delays only where the scenario has them (not on grouped messages, not with a
    // queue default delay, not while drop_oldest may run: it drops ready messages only).
    const bool delays = s.delays && !grouped && s.options.delay.count() == 0;
    op.b = delays && src.chance(30) ? src.range(1, 40) : 0;
    op.c = s.ttls && src.chance(40) ? src.range(1, 60) : 0;
    if (src.chance(5)) {
      if (src.chance(50)) {
        if (delays) op.b = kForever;
      } else {
        op.c = kForever;
      }
    }
    op.d = grouped ? src.range(1, 3) : 0;
    op.e = s.dedup && src.chance(40) ? src.range(1, 5) : 0;
  } else if (roll < 48) {
    op.kind = q_receive;
    op.a = src.below(2);
  } else if (roll < 53) {
    op.kind = q_receive_batch;
    op.a = src.below(2);
    op.b = src.range(1, 5);
  } else if (roll < 63) {
    op.kind = q_ack;
  } else if (roll < 68) {
    op.kind = q_nack;
  } else if (roll < 70) {
    op.kind = q_nack_drop;
  } else if (roll < 72) {
    op.kind = q_reject;
  } else if (roll < 75) {
    op.kind = q_extend;
  } else if (roll < 77) {
    op.kind = q_settle_again;
  } else if (roll < 88) {
    op.kind = q_advance;
    op.a = src.chance(85) ? src.range(1, 20) : src.range(100, 2000);
  } else if (roll < 91) {
    op.kind = q_close;
    op.a = src.below(2);
  } else if (roll < 97) {
    op.kind = q_receive_dlq;
  } else {
    op.kind = s.durable ? q_restart : q_advance;
    op.a = 1;
  }
  if (op.kind >= q_ack && op.kind <= q_settle_again) op.a = src.below(8);
  return op;
}

inline std::string describe_queue_op(const Op& op) {
  std::ostringstream s;
  switch (op.kind) {
    case q_send:
      s << "send (" << kForever << ": Duration::max()) priority=" << op.a << " delay_ms=" << op.b
        << " ttl_ms=" << op.c << " group=" << op.d << " dedup=" << op.e;
      break;
    case q_receive:
      s << "receive consumer=" << op.a;
      break;
    case q_receive_batch:
      s << "receive consumer=" << op.a << " max=" << op.b;
      break;
    case q_ack:
      s << "ack held#" << op.a;
      break;
    case q_nack:
      s << "nack held#" << op.a;
      break;
    case q_nack_drop:
      s << "nack(requeue=false) held#" << op.a;
      break;
    case q_reject:
      s << "reject held#" << op.a;
      break;
    case q_extend:
      s << "extend held#" << op.a;
      break;
    case q_settle_again:
      s << "ack again settled#" << op.a;
      break;
    case q_advance:
      s << "advance " << op.a << " ms";
      break;
    case q_close:
      s << "close consumer=" << op.a;
      break;
    case q_receive_dlq:
      s << "receive from dlq";
      break;
    case q_restart:
      s << "restart";
      break;
    default:
      s << "op" << int(op.kind);
  }
  return s.str();
}

/// The model and the driver of one sequence.
class QueueRun {
 public:
  QueueRun(const QueueScenario& s, std::filesystem::path dir) : s_(s), dir_(std::move(dir)) {}

  /// Runs `ops`; the first difference between broker and model, or nullopt.
  std::optional<std::string> run(const std::vector<Op>& ops) {
    try {
      if (s_.durable) {
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
      }
      open();
      for (std::size_t i = 0; i < ops.size(); ++i) {
        step_ = i;
        if (auto f = apply(ops[i]))
          return "step " + std::to_string(i) + " (" + describe_queue_op(ops[i]) + "): " + *f;
        if (auto f = check_stats())
          return "step " + std::to_string(i) + " (" + describe_queue_op(ops[i]) + "): stats: " + *f;
      }
    } catch (const std::exception& e) {
      return std::string("exception: ") + e.what();
    }
    return std::nullopt;
  }

  ~QueueRun() {
    close_all();
    if (s_.durable) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

 private:
  enum class St : std::uint8_t { ready, delayed, inflight, gone };
  struct M {
    MessageId id = 0;
    std::uint32_t n = 0;
    std::uint32_t level = 0;
    std::uint32_t group = 0;
    std::int64_t expires = 0;  // ms; 0 never
    std::int64_t visible_at = 0;
    std::uint64_t ready_seq = 0;
    bool plain = false;  // a first delivery that joined its level's tail (sent, or came due)
    std::uint32_t attempts = 0;
    St st = St::ready;
    int holder = -1;
    std::int64_t deadline = 0;  // ms; max: never
  };
  struct Held {
    Delivery d;
    MessageId id;
    int consumer;
    std::uint32_t attempt;
  };
  struct Dead {
    std::string reason;
    std::uint32_t attempts;
  };

  // --- real side --------------------------------------------------------------------
  void open() {
    BrokerOptions bo{.clock = clock_};
    if (s_.durable) {
      bo.data_dir = dir_;
      bo.storage.segment_bytes = kSegmentBytes;
    }
    broker_ = std::make_unique<Broker>(std::move(bo));
    if (s_.dlq) {
      QueueOptions d{};
      d.durability = s_.options.durability;
      broker_->declare_queue("dlq", d);
    }
    queue_ = broker_->declare_queue("q", s_.options);
    producer_ = broker_->producer();
  }
  void close_all() {
    held_.clear();
    settled_.clear();
    for (auto& c : consumers_) c.reset();
    dlq_consumer_.reset();
    producer_ = Producer{};
    queue_ = Queue{};
    broker_.reset();
  }
  Consumer& consumer(int c) {
    if (!consumers_[c]) {
      consumers_[c].emplace(broker_->consumer("q"));
      open_[c] = true;
    }
    return *consumers_[c];
  }

  // --- model helpers ----------------------------------------------------------------
  [[nodiscard]] bool expired(const M& m) const { return m.expires != 0 && now_ >= m.expires; }
  M* find(MessageId id) {
    auto it = msgs_.find(id);
    return it == msgs_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] bool group_busy(std::uint32_t g) const {
    for (const auto& [id, m] : msgs_) {
      if (m.group != g) continue;
      if (m.st == St::inflight || (m.st == St::delayed && m.attempts > 0)) return true;
    }
    return false;
  }
  void make_ready(M& m, std::uint64_t seq) {
    m.st = St::ready;
    m.ready_seq = seq;
    m.holder = -1;
  }
  void dead_letter(M& m, const std::string& why) {
    m.st = St::gone;
    m.holder = -1;
    if (s_.dlq) {
      ++dead_lettered_;
      dlq_[m.id] = Dead{why, m.attempts};
    } else {
      ++dropped_;
    }
  }
  /// A delivered message comes back (nack, visibility timeout, close) as part of batch `seq`.
  void requeue(M& m, std::uint64_t seq) {
    m.plain = false;
    if (s_.options.max_deliveries != 0 && m.attempts >= s_.options.max_deliveries) {
      dead_letter(m, "max_deliveries");
      return;
    }
    const auto backoff = std::chrono::duration_cast<Ms>(s_.options.retry_backoff.after(m.attempts));
    if (backoff.count() > 0) {
      m.st = St::delayed;
      m.visible_at = now_ + backoff.count();
      m.ready_seq = seq;  // its place among same-instant returns, kept for promotion
      m.holder = -1;
    } else {
      make_ready(m, seq);
    }
  }
  /// Delayed messages that are due become ready, in order of their due time.
  void promote() {
    std::vector<M*> due;
    for (auto& [id, m] : msgs_) {
      if (m.st == St::delayed && m.visible_at <= now_) due.push_back(&m);
    }
    std::sort(due.begin(), due.end(), [](const M* x, const M* y) {
      return std::tie(x->visible_at, x->ready_seq, x->id) <
             std::tie(y->visible_at, y->ready_seq, y->id);
    });
    std::int64_t last_at = -1;
    std::uint64_t last_seq = 0, seq = 0;
    for (M* m : due) {
      if (m->visible_at != last_at || m->ready_seq != last_seq || m->attempts == 0) seq = ++seq_;
      last_at = m->visible_at;
      last_seq = m->ready_seq;
      make_ready(*m, seq);
      // A first delivery joins the tail of its level (the ring at level 0) as a send would.
      m->plain = m->attempts == 0 && m->group == 0;
    }
  }
  void scan_visibility() {
    if (s_.options.visibility_timeout.count() <= 0) return;
    const std::uint64_t seq = ++seq_;
    for (auto& [id, m] : msgs_) {
      if (m.st == St::inflight && m.deadline <= now_) requeue(m, seq);
    }
  }
  /// Ordering key within a level: redelivered first (per the contract), then ready order.
  [[nodiscard]] bool precedes(const M& x, const M& y) const {
    const bool xr = x.attempts > 0, yr = y.attempts > 0;
    if (xr != yr) return xr;
    return x.ready_seq < y.ready_seq;
  }
  /// Every message the contract allows the next take to deliver.
  std::vector<MessageId> candidates() {
    std::vector<MessageId> out;
    // Ungrouped: the highest level; within it the first by `precedes` (ties allowed).
    int top = -1;
    for (auto& [id, m] : msgs_) {
      if (m.st == St::ready && !expired(m) && m.group == 0) top = std::max<int>(top, int(m.level));
    }
    if (top >= 0) {
      std::vector<const M*> level;
      for (auto& [id, m] : msgs_) {
        if (m.st == St::ready && !expired(m) && m.group == 0 && int(m.level) == top)
          level.push_back(&m);
      }
      const M* best = nullptr;
      for (const M* m : level) {
        if (!best || precedes(*m, *best)) best = m;
      }
      for (const M* m : level) {
        if (!precedes(*best, *m)) out.push_back(m->id);  // ties with the best
      }
    }
    // Grouped: the head of each group with nothing in flight.
    std::map<std::uint32_t, const M*> heads;
    for (auto& [id, m] : msgs_) {
      if (m.st != St::ready || expired(m) || m.group == 0) continue;
      auto& h = heads[m.group];
      const bool first = (m.attempts > 0) != (h && h->attempts > 0)
                             ? m.attempts > 0
                             : !h || m.ready_seq < h->ready_seq;
      if (!h || first) h = &m;
    }
    for (auto& [g, h] : heads) {
      if (group_busy(g)) continue;
      for (auto& [id, m] : msgs_) {  // ties with the head (messages returned together)
        if (m.group == g && m.st == St::ready && !expired(m) &&
            (m.attempts > 0) == (h->attempts > 0) && m.ready_seq == h->ready_seq)
          out.push_back(id);
      }
    }
    return out;
  }
  [[nodiscard]] std::size_t live_depth() const {
    std::size_t n = 0;
    for (const auto& [id, m] : msgs_) {
      if ((m.st == St::ready || m.st == St::delayed) && !expired(m)) ++n;
    }
    return n;
  }
  [[nodiscard]] std::size_t expired_pending() const {
    std::size_t n = 0;
    for (const auto& [id, m] : msgs_) {
      if ((m.st == St::ready || m.st == St::delayed) && expired(m)) ++n;
    }
    return n;
  }
  [[nodiscard]] std::size_t in_flight() const {
    std::size_t n = 0;
    for (const auto& [id, m] : msgs_) n += m.st == St::inflight;
    return n;
  }
  [[nodiscard]] std::size_t held_by(int c) const {
    std::size_t n = 0;
    for (const auto& [id, m] : msgs_) n += m.st == St::inflight && m.holder == c;
    return n;
  }
  static std::string code(Errc e) { return std::string(to_string(e)); }

  // --- operations ---------------------------------------------------------------------
  std::optional<std::string> apply(const Op& op) {
    switch (op.kind) {
      case q_send:
        return send(op);
      case q_receive:
        return receive(int(op.a % 2), 1, false);
      case q_receive_batch:
        return receive(int(op.a % 2), std::max<std::uint32_t>(1, op.b), true);
      case q_ack:
      case q_nack:
      case q_nack_drop:
      case q_reject:
      case q_extend:
        return settle(op);
      case q_settle_again: {
        if (settled_.empty()) return std::nullopt;
        Delivery& d = settled_[op.a % settled_.size()];
        const Status st = d.ack();
        if (st.code() != Errc::stale_delivery)
          return "second ack returned " + code(st.code()) + ", want stale_delivery";
        return std::nullopt;
      }
      case q_advance:
        clock_->advance(Ms(op.a));
        now_ += op.a;
        promote();
        return std::nullopt;
      case q_close: {
        const int c = int(op.a % 2);
        if (!consumers_[c]) return std::nullopt;
        consumers_[c]->close();
        consumers_[c].reset();
        open_[c] = false;
        const std::uint64_t seq = ++seq_;
        for (auto& [id, m] : msgs_) {
          if (m.st == St::inflight && m.holder == c) requeue(m, seq);
        }
        return std::nullopt;
      }
      case q_receive_dlq:
        return receive_dlq();
      case q_restart:
        return restart();
      default:
        return std::nullopt;
    }
  }

  std::optional<std::string> send(const Op& op) {
    const std::uint32_t n = ++sends_;
    const std::string payload = "p" + std::to_string(n);
    const std::string group = op.d ? "g" + std::to_string(op.d) : std::string();
    const std::string dedup = op.e ? "d" + std::to_string(op.e) : std::string();
    SendOptions so;
    so.headers = Headers{{"n", std::to_string(n)}};
    so.priority = static_cast<std::uint8_t>(op.a);
    so.delay = op.b == kForever ? Duration::max() : Duration(Ms(op.b));
    so.ttl = op.c == kForever ? Duration::max() : Duration(Ms(op.c));
    so.group = group;
    so.dedup_id = dedup;
    const std::size_t depth_before = real_depth_;  // the broker's depth after the last step
    const auto dlq_before = dlq_.size();
    auto r = producer_.send("q", payload, so);
    // Model: dedup first, then capacity.
    if (!dedup.empty()) {
      auto it = dedup_.find(dedup);
      if (it != dedup_.end() && now_ < it->second.first) {
        ++deduplicated_;
        if (!r) return "duplicate send failed with " + code(r.code());
        if (*r != it->second.second)
          return "duplicate send returned id " + std::to_string(*r) + ", want the first id " +
                 std::to_string(it->second.second);
        return std::nullopt;
      }
    }
    std::size_t drops = 0;
    if (depth_before >= s_.options.capacity) {
      if (s_.options.overflow != Overflow::drop_oldest) {
        ++rejected_full_;
        if (r.code() != Errc::full)
          return "send into a full queue returned " + code(r.code()) + ", want full";
        return std::nullopt;
      }
      drops = depth_before - s_.options.capacity + 1;
    }
    if (!r)
      return "send failed with " + code(r.code()) + " (model depth " +
             std::to_string(depth_before) + " of capacity " + std::to_string(s_.options.capacity) +
             ")";
    if (msgs_.count(*r)) return "send returned an id already in use: " + std::to_string(*r);
    if (!dedup.empty())
      dedup_[dedup] = {now_ + std::chrono::duration_cast<Ms>(s_.options.dedup_window).count(), *r};
    ++enqueued_;
    M m;
    m.id = *r;
    m.n = n;
    m.level = std::min<std::uint32_t>(op.a, s_.options.max_priority);
    m.group = op.d;
    std::int64_t ttl = op.c == kForever ? 0 : op.c;  // forever: as good as none
    const auto qttl = std::chrono::duration_cast<Ms>(s_.options.ttl).count();
    if (qttl > 0) ttl = ttl == 0 ? qttl : std::min<std::int64_t>(ttl, qttl);
    m.expires = ttl > 0 ? now_ + ttl : 0;
    const std::int64_t delay = op.b == kForever ? kNeverMs
                               : op.b != 0
                                   ? op.b
                                   : std::chrono::duration_cast<Ms>(s_.options.delay).count();
    if (delay > 0) {
      m.st = St::delayed;
      m.visible_at = now_ + delay;
      m.ready_seq = ++seq_;
    } else {
      m.plain = m.group == 0;
      make_ready(m, ++seq_);
    }
    // drop_oldest: the victims are in the DLQ now; take them out to learn which they were.
    for (std::size_t k = 0; k < drops; ++k) {
      auto victims = drop_candidates();
      Consumer& dc = dlq_consumer();
      auto got = dc.receive(Duration{0});
      // Dead letters from before this send come first (the DLQ is FIFO here: no TTLs).
      while (got && dlq_.count(got->id()) != 0) {
        if (auto f = check_dead_letter(*got)) return f;
        if (auto acked = got->ack(); !acked) return "dlq ack failed (" + code(acked.code()) + ")";
        got = dc.receive(Duration{0});
      }
      if (!got) return "drop_oldest: no dead letter in the dlq (" + code(got.code()) + ")";
      M* v = find(got->id());
      if (!v || std::find(victims.begin(), victims.end(), v->id) == victims.end())
        return "drop_oldest dead-lettered message " + std::to_string(got->id()) +
               ", not an oldest ready one";
      dead_letter(*v, "overflow");
      if (auto f = check_dead_letter(*got)) return f;
      if (auto acked = got->ack(); !acked) return "dlq ack failed (" + code(acked.code()) + ")";
    }
    (void)dlq_before;
    msgs_[m.id] = m;
    return std::nullopt;
  }
  std::vector<MessageId> drop_candidates() {
    // The contract: "the oldest ready message". Ready first deliveries keep their FIFO; a
    // redelivered one (back before them, or after) is "older" by one reading or the other.
    std::vector<MessageId> out;
    const M* first_plain = nullptr;
    const M* first_slow = nullptr;
    for (auto& [id, m] : msgs_) {
      if (m.st != St::ready || m.group != 0) continue;
      const M*& slot = m.plain ? first_plain : first_slow;
      if (!slot || m.ready_seq < slot->ready_seq) slot = &m;
    }
    if (first_plain) out.push_back(first_plain->id);
    if (first_slow) {
      for (auto& [id, m] : msgs_) {
        if (m.st == St::ready && m.group == 0 && !m.plain && m.ready_seq == first_slow->ready_seq)
          out.push_back(id);
      }
    }
    return out;
  }
  Consumer& dlq_consumer() {
    if (!dlq_consumer_) dlq_consumer_.emplace(broker_->consumer("dlq"));
    return *dlq_consumer_;
  }
  std::optional<std::string> check_dead_letter(const Delivery& d) {
    auto it = dlq_.find(d.id());
    if (it == dlq_.end())
      return "dlq delivered message " + std::to_string(d.id()) + " the model did not dead-letter";
    const Headers& h = d.headers();
    const std::string want_n = std::to_string(msgs_.count(d.id()) ? msgs_[d.id()].n : 0);
    if (h.get("x-death-queue") != "q" || h.get("x-death-reason") != it->second.reason ||
        h.get("x-death-attempts") != std::to_string(it->second.attempts) || h.get("n") != want_n ||
        d.payload().as_string() != "p" + want_n)
      return "dead letter " + std::to_string(d.id()) +
             " has x-death-queue=" + std::string(h.get("x-death-queue")) +
             " reason=" + std::string(h.get("x-death-reason")) +
             " attempts=" + std::string(h.get("x-death-attempts")) +
             " n=" + std::string(h.get("n")) + ", want reason=" + it->second.reason +
             " attempts=" + std::to_string(it->second.attempts) + " n=" + want_n;
    dlq_.erase(it);
    return std::nullopt;
  }
  std::optional<std::string> receive_dlq() {
    if (!s_.dlq) return std::nullopt;
    auto got = dlq_consumer().receive(Duration{0});
    if (!got) {
      if (got.code() != Errc::timed_out) return "dlq receive returned " + code(got.code());
      if (!dlq_.empty())
        return "dlq receive timed out with " + std::to_string(dlq_.size()) +
               " dead letters expected";
      return std::nullopt;
    }
    M* m = find(got->id());
    const bool expired_letter = got->headers().get("x-death-reason") == "expired";
    if (expired_letter) {
      // An expired message reaches the DLQ when a receive met it; it must have expired.
      if (!m || !((m->st == St::ready || m->st == St::delayed) && expired(*m)) ||
          s_.options.on_expiry != OnExpiry::dead_letter)
        return "dlq holds message " + std::to_string(got->id()) +
               " as expired, which the model did not expire";
      m->st = St::gone;
      ++known_expired_;
      ++dead_lettered_;
      dlq_[m->id] = Dead{"expired", m->attempts};
    }
    if (auto f = check_dead_letter(*got)) return f;
    const Status a = got->ack();
    if (!a) return "ack of a dead letter returned " + code(a.code());
    return std::nullopt;
  }

  std::optional<std::string> receive(int c, std::uint32_t max, bool batch) {
    Consumer& con = consumer(c);
    std::vector<Delivery> got;
    Errc err = Errc::ok;
    if (batch) {
      auto r = con.receive(max, Duration{0});
      if (r)
        got = std::move(*r);
      else
        err = r.code();
    } else {
      auto r = con.receive(Duration{0});
      if (r)
        got.push_back(std::move(*r));
      else
        err = r.code();
    }
    if (err != Errc::ok && err != Errc::timed_out) return "receive returned " + code(err);
    scan_visibility();
    std::size_t i = 0;
    for (; i < max; ++i) {
      if (held_by(c) >= s_.options.prefetch) break;
      auto allowed = candidates();
      if (allowed.empty()) break;
      if (i >= got.size()) {
        std::string ids;
        for (auto id : allowed) ids += " " + std::to_string(id);
        return "receive #" + std::to_string(i) + " got nothing (" + code(err) +
               "), the model allows:" + ids;
      }
      const Delivery& d = got[i];
      if (std::find(allowed.begin(), allowed.end(), d.id()) == allowed.end()) {
        std::string ids;
        for (auto id : allowed) ids += " " + std::to_string(id);
        return "received message " + std::to_string(d.id()) + ", the model allows only:" + ids;
      }
      M& m = msgs_[d.id()];
      ++m.attempts;
      ++delivered_;
      if (m.attempts > 1) ++redelivered_;
      m.st = St::inflight;
      m.holder = c;
      const auto vis = std::chrono::duration_cast<Ms>(s_.options.visibility_timeout).count();
      m.deadline = vis > 0 ? now_ + vis : std::numeric_limits<std::int64_t>::max();
      if (d.attempt() != m.attempts)
        return "message " + std::to_string(m.id) + " delivered with attempt " +
               std::to_string(d.attempt()) + ", want " + std::to_string(m.attempts);
      if (d.payload().as_string() != "p" + std::to_string(m.n) ||
          d.headers().get("n") != std::to_string(m.n))
        return "message " + std::to_string(m.id) + " has payload '" +
               std::string(d.payload().as_string()) + "'";
    }
    if (got.size() > i)
      return "receive returned " + std::to_string(got.size()) + " deliveries, the model allows " +
             std::to_string(i) + " (message " + std::to_string(got[i].id()) + " extra)";
    for (auto& d : got) {
      const std::uint32_t attempt = d.attempt();
      const MessageId id = d.id();
      held_.push_back(Held{std::move(d), id, c, attempt});
    }
    if (held_.size() > 16)
      held_.erase(held_.begin());  // forget the oldest handles: SQS's "dropped"
    return std::nullopt;
  }

  std::optional<std::string> settle(const Op& op) {
    if (held_.empty()) return std::nullopt;
    const std::size_t idx = op.a % held_.size();
    Held h = std::move(held_[idx]);
    M* m = find(h.id);
    const bool current =
        m && m->st == St::inflight && m->holder == h.consumer && m->attempts == h.attempt;
    Status st;
    switch (op.kind) {
      case q_ack:
        st = h.d.ack();
        break;
      case q_nack:
        st = h.d.nack(true);
        break;
      case q_nack_drop:
        st = h.d.nack(false);
        break;
      case q_reject:
        st = h.d.reject("custom");
        break;
      default:
        st = h.d.extend();
        break;
    }
    if (op.kind == q_extend) {
      held_[idx] = std::move(h);
      if (!current)
        return st.code() == Errc::stale_delivery
                   ? std::nullopt
                   : std::optional<std::string>("extend of a taken-back delivery returned " +
                                                code(st.code()));
      if (!st) return "extend returned " + code(st.code());
      const auto vis = std::chrono::duration_cast<Ms>(s_.options.visibility_timeout).count();
      if (vis > 0) m->deadline = now_ + vis;
      return std::nullopt;
    }
    held_.erase(held_.begin() + std::ptrdiff_t(idx));
    settled_.push_back(std::move(h.d));
    if (settled_.size() > 8) settled_.erase(settled_.begin());
    if (!current) {
      if (st.code() != Errc::stale_delivery)
        return "settling a taken-back delivery returned " + code(st.code()) +
               ", want stale_delivery";
      return std::nullopt;
    }
    if (!st) return "settle returned " + code(st.code());
    switch (op.kind) {
      case q_ack:
        ++acked_;
        m->st = St::gone;
        break;
      case q_nack:
        ++nacked_;
        requeue(*m, ++seq_);
        break;
      case q_nack_drop:
        ++nacked_;
        dead_letter(*m, "rejected");
        break;
      case q_reject:
        ++nacked_;
        dead_letter(*m, "custom");
        break;
      default:
        break;
    }
    return std::nullopt;
  }

  std::optional<std::string> restart() {
    // Consumers close first (what they hold comes back, as on any close), then the broker.
    const std::uint64_t seq = ++seq_;
    for (int c = 0; c < 2; ++c) {
      for (auto& [id, m] : msgs_) {
        if (m.st == St::inflight && m.holder == c && consumers_[c]) requeue(m, seq);
      }
    }
    close_all();
    open_[0] = open_[1] = false;
    open();
    // After a restart every message is back, in an order the contract does not fix.
    const std::uint64_t back = ++seq_;
    for (auto& [id, m] : msgs_) {
      if (m.st == St::ready) {
        m.ready_seq = back;
        m.plain = false;
      }
    }
    restarted_ = true;
    return std::nullopt;
  }

  std::optional<std::string> check_stats() {
    const QueueStats st = queue_.stats();
    real_depth_ = st.depth;
    if (restarted_) {
      // Counters start again at the reopen; depth and in_flight are checked as ever.
      restarted_ = false;
      enqueued_ = st.enqueued;
      deduplicated_ = st.deduplicated;
      delivered_ = st.delivered;
      redelivered_ = st.redelivered;
      acked_ = st.acked;
      nacked_ = st.nacked;
      dead_lettered_ = st.dead_lettered;
      dropped_ = st.dropped;
      rejected_full_ = st.rejected_full;
      known_expired_ = st.expired;
    }
    std::ostringstream diff;
    auto cmp = [&](const char* what, std::uint64_t real, std::uint64_t want) {
      if (real != want) diff << what << "=" << real << " want " << want << "; ";
    };
    const std::size_t live = live_depth(), pending = expired_pending();
    const std::size_t open_consumers = std::size_t(open_[0]) + std::size_t(open_[1]);
    cmp("consumers", st.consumers, open_consumers);
    cmp("in_flight", st.in_flight, in_flight());
    cmp("enqueued", st.enqueued, enqueued_);
    cmp("deduplicated", st.deduplicated, deduplicated_);
    cmp("delivered", st.delivered, delivered_);
    cmp("redelivered", st.redelivered, redelivered_);
    cmp("acked", st.acked, acked_);
    cmp("nacked", st.nacked, nacked_);
    cmp("rejected_full", st.rejected_full, rejected_full_);
    // Expired messages not yet met by a receive are still in depth.
    if (st.depth < live || st.depth > live + pending) {
      diff << "depth=" << st.depth << " want " << live << ".." << live + pending << "; ";
    } else {
      const std::uint64_t met = live + pending - st.depth;  // expired ones a receive has met
      cmp("expired", st.expired, known_expired_ + met);
      const bool to_dlq = s_.options.on_expiry == OnExpiry::dead_letter;
      cmp("dead_lettered", st.dead_lettered, dead_lettered_ + (to_dlq && s_.dlq ? met : 0));
      cmp("dropped", st.dropped, dropped_ + (to_dlq && !s_.dlq ? met : 0));
    }
    if (!diff.str().empty()) return diff.str();
    return std::nullopt;
  }

  QueueScenario s_;
  std::filesystem::path dir_;
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::unique_ptr<Broker> broker_;
  Queue queue_;
  Producer producer_;
  std::optional<Consumer> consumers_[2];
  bool open_[2] = {false, false};
  std::optional<Consumer> dlq_consumer_;
  std::vector<Held> held_;
  std::vector<Delivery> settled_;

  std::map<MessageId, M> msgs_;
  std::map<MessageId, Dead> dlq_;
  std::map<std::string, std::pair<std::int64_t, MessageId>> dedup_;
  std::int64_t now_ = 0;
  std::uint64_t seq_ = 0;
  std::uint32_t sends_ = 0;
  std::size_t step_ = 0;
  std::size_t real_depth_ = 0;
  bool restarted_ = false;
  std::uint64_t enqueued_ = 0, deduplicated_ = 0, delivered_ = 0, redelivered_ = 0, acked_ = 0,
                nacked_ = 0, dead_lettered_ = 0, dropped_ = 0, rejected_full_ = 0,
                known_expired_ = 0;
};

}  // namespace switchyard::model
