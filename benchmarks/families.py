"""The benchmark families, their peers and their targets (issue 5), shared by
benchmarks/compare and benchmarks/plot. A family's switchyard side is the benchmark named
"<family>/switchyard"; until it exists the family is reported as pending.

ratio  = switchyard's median / the peer's median, in the family's metric.
target = ("min", x): ratio must be >= x (higher is better: throughput);
         ("max", x): ratio must be <= x (lower is better: latency, memory).
"""

from dataclasses import dataclass, field


@dataclass
class Family:
    name: str
    metric: str            # counter compared: items_per_second, p50_ns, bytes_per_second, ...
    peers: list            # every peer implementation, in display order
    targets: dict          # peer -> ("min" | "max", ratio)
    zero_allocs: bool = False  # switchyard's allocs_per_item must also be 0
    what: str = ""
    extra: list = field(default_factory=list)  # further counters worth showing
    # An implementation that is not a peer but a ceiling: the least any design with these
    # semantics must do. Its ratio to a targeted peer bounds what the target can reach.
    ceiling: str = ""

    @property
    def higher_is_better(self):
        return not self.metric.endswith("_ns") and self.metric != "bytes_per_message"


FAMILIES = [
    Family("handoff_spsc", "items_per_second", ["boost_spsc_queue", "moodycamel_rwq"],
           {"boost_spsc_queue": ("min", 1.0)},
           what="8-byte items, 1 producer -> 1 consumer, SPSC structures"),
    Family("handoff_mpmc_1p1c", "items_per_second",
           ["moodycamel_cq", "boost_lockfree_queue", "mutex_deque"],
           {"moodycamel_cq": ("min", 1.0), "boost_lockfree_queue": ("min", 5.0)},
           what="8-byte items through an MPMC structure, 1P x 1C, single-item ops"),
    Family("handoff_mpmc_2p2c", "items_per_second",
           ["moodycamel_cq", "boost_lockfree_queue", "mutex_deque"],
           {"moodycamel_cq": ("min", 1.0)},
           what="the same, 2P x 2C (4 threads on 2 vCPUs: contention, not scaling)"),
    Family("latency_oneway", "p50_ns", ["boost_spsc_queue", "moodycamel_cq"],
           {"boost_spsc_queue": ("max", 1.0), "moodycamel_cq": ("max", 0.5)},
           what="one paced item at a time, busy-polling consumer; p50 one-way latency",
           extra=["p99_ns"]),
    Family("queue_send_receive_ack", "items_per_second",
           ["zmq_pushpull", "mutex_deque", "owned_copy_floor", "redis_streams"],
           {"zmq_pushpull": ("min", 5.0), "owned_copy_floor": ("min", 0.6)}, zero_allocs=True,
           ceiling="owned_copy_floor",
           # redis_streams: XADD, XREADGROUP COUNT 1, XACK, a round trip each (no target).
           what="64-byte messages through a Queue: send -> receive -> ack, one at a time"),
    Family("queue_send_receive_ack_batch64", "items_per_second",
           ["zmq_pushpull", "owned_copy_floor", "redis_streams"],
           {"zmq_pushpull": ("min", 20.0), "owned_copy_floor": ("min", 0.7)},
           ceiling="owned_copy_floor",
           what="the same in batches of 64"),
    Family("queue_send_receive_ack_object", "items_per_second", ["owned_copy_floor"],
           {"owned_copy_floor": ("min", 1.0)}, ceiling="owned_copy_floor",
           what="a 64-byte C++ object moved in (switchyard::object), read in place, acked"),
    Family("pubsub_fanout4", "items_per_second", ["redis_pubsub"], {},
           what="64-byte messages published on a channel with 4 subscribers (Redis PUBLISH/"
                "SUBSCRIBE semantics, nothing dropped); counts deliveries"),
    Family("topic_fanout4", "items_per_second", ["zmq_pubsub"],
           {"zmq_pubsub": ("min", 5.0)},
           what="64-byte records to a topic read by 4 subscribers; counts deliveries"),
    Family("persist_append_1k", "items_per_second", ["raw_mmap"],
           {"raw_mmap": ("min", 0.7)},
           what="1 KiB records appended at durability none", extra=["bytes_per_second"]),
    Family("persist_append_1k_group_commit", "items_per_second", ["raw_mmap_fdatasync_batch"],
           {"raw_mmap_fdatasync_batch": ("min", 0.8)},
           what="1 KiB records appended at durability batch (one fdatasync per 64 records)",
           extra=["bytes_per_second"]),
    Family("persist_recover_1g", "bytes_per_second", ["memcpy"],
           {"memcpy": ("min", 0.25)},
           what="open and verify a 1 GiB log after a clean close"),
    Family("queue_memory_1m", "bytes_per_message", ["mutex_deque"],
           {"mutex_deque": ("max", 2.0)},
           what="1,000,000 64-byte messages resident in one queue; RSS growth per message",
           extra=["heap_bytes_per_message"]),
    Family("kafka_produce_consume_64", "items_per_second", ["librdkafka"],
           {"librdkafka": ("min", 0.9)},
           what="64-byte records to a Kafka topic on the in-process mock cluster, consumed by one "
                "group member, end to end (switchyard::kafka vs librdkafka used directly)"),
    Family("kafka_produce_consume_1k", "items_per_second", ["librdkafka"],
           {"librdkafka": ("min", 0.9)},
           what="1 KiB records, as kafka_produce_consume_64"),
    Family("amqp_publish_consume_64", "items_per_second", ["rabbitmq_c"],
           {"rabbitmq_c": ("min", 0.9)},
           what="64-byte messages published with confirms to a queue on a private "
                "rabbitmq-server and consumed with an ack each, end to end "
                "(switchyard::rabbitmq vs rabbitmq-c used directly)"),
    Family("amqp_publish_consume_1k", "items_per_second", ["rabbitmq_c"],
           {"rabbitmq_c": ("min", 0.9)},
           what="1 KiB messages, as amqp_publish_consume_64"),
    Family("roundtrip_parked", "p50_ns", ["zmq_pair", "eventcount_ring"],
           {"zmq_pair": ("max", 1.2)},
           what="ping-pong with parked (futex) consumers; p50 round trip", extra=["p99_ns"]),
]

# durable_queue_send_receive_ack (issue 17 §2, benchmarks/durable_queue.hpp): one family per
# payload x durability x producers; the targets hold against every peer (so: the best of them).
DURABLE_PEERS = ["sqlite_wal", "lmdb", "rocksdb"]
for _payload in (64, 1024):
    for _level, _target in (("none", {1: 20.0, 4: 20.0}), ("batch", {1: 10.0, 4: 10.0}),
                            ("always", {1: 1.0, 4: 3.0})):
        for _producers in (1, 4):
            FAMILIES.append(Family(
                f"durable_queue_send_receive_ack_{_payload}B_{_level}_{_producers}p",
                "items_per_second", DURABLE_PEERS,
                {p: ("min", _target[_producers]) for p in DURABLE_PEERS},
                what=f"durable job queue, {_payload} B, durability {_level}, {_producers} "
                     "producer(s), 1 consumer: send, receive with a lease, ack"))


def split_name(run_name):
    """'family/impl/iterations:1/real_time' -> ('family', 'impl')."""
    parts = run_name.split("/")
    return (parts[0], parts[1]) if len(parts) >= 2 else (run_name, "")


def load_medians(results):
    """{(family, impl): {counter: median, ..., 'cv': cv of the family metric or None}}
    from Google Benchmark JSON with repetitions (falls back to single runs)."""
    medians, cvs, singles = {}, {}, {}
    for b in results.get("benchmarks", []):
        key = split_name(b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            medians.setdefault(key, {"error": b.get("error_message", "error")})
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = b
            elif b.get("aggregate_name") == "cv":
                cvs[key] = b
        else:
            singles.setdefault(key, b)
    for key, b in singles.items():
        medians.setdefault(key, b)
    return medians, cvs


def fmt_value(metric, value):
    if value is None:
        return "-"
    if metric.endswith("_ns") or metric == "ns_per_op":
        return f"{value:,.0f} ns"
    if metric.endswith("bytes_per_message"):
        return f"{value:,.1f} B"
    if metric == "bytes_per_second":
        return f"{value / 1e9:,.2f} GB/s"
    if value >= 1e6:
        return f"{value / 1e6:,.2f} M/s"
    if value < 1e3:
        return f"{value:,.0f} /s"
    return f"{value / 1e3:,.1f} k/s"


def evaluate(medians, cvs):
    """Rows: dicts with family, impl, value, cv, allocs, ratio, target, status."""
    rows = []
    for fam in FAMILIES:
        ours = medians.get((fam.name, "switchyard"))
        ours_value = ours.get(fam.metric) if ours and "error" not in ours else None
        pending = ours is None

        def row(impl, result, ratio=None, target=None, status=""):
            value = result.get(fam.metric) if result and "error" not in result else None
            cv = cvs.get((fam.name, impl), {}).get(fam.metric)
            allocs = result.get("allocs_per_item") if result and "error" not in result else None
            extra = {k: result.get(k) for k in fam.extra} if result and "error" not in result else {}
            if result and "error" in result:
                status = "ERROR: " + result["error"]
            return dict(family=fam.name, impl=impl, metric=fam.metric, value=value, cv=cv,
                        allocs=allocs, ratio=ratio, target=target, status=status, extra=extra,
                        higher=fam.higher_is_better)

        if pending:
            rows.append(row("switchyard", None, status="pending"))
        else:
            status = ""
            if fam.zero_allocs and ours_value is not None:
                allocs = ours.get("allocs_per_item")
                status = ("allocs 0: met" if allocs is not None and allocs < 0.005
                          else f"allocs {allocs}: MISSED")
            rows.append(row("switchyard", ours, status=status))
        for peer in fam.peers:
            result = medians.get((fam.name, peer))
            target = fam.targets.get(peer)
            value = result.get(fam.metric) if result and "error" not in result else None
            ratio, status = None, ""
            if pending:
                status = "pending" if target else ""
            elif ours_value is not None and value:
                ratio = ours_value / value
                if target:
                    kind, x = target
                    met = ratio >= x if kind == "min" else ratio <= x
                    status = "met" if met else "MISSED"
            elif target:
                status = "no result"
            rows.append(row(peer, result, ratio, target, status))
    return rows


def fmt_target(target):
    if not target:
        return ""
    kind, x = target
    return f"{'>=' if kind == 'min' else '<='} {x:g}x"


def advantage(ratio, higher):
    """How many times better switchyard is than the peer (> 1: better)."""
    return ratio if higher else 1.0 / ratio


# ---------------------------------------------------------------- growth curves (issue 17 §3)

@dataclass
class Curve:
    """A family run at several sizes (`growth_<axis>/<impl>/<N>`, benchmarks/growth.cpp)."""
    name: str
    axis: str              # what N counts
    metric: str            # counter plotted against N
    complexity: str        # by design
    flat: bool             # O(1) by design: largest / smallest point must be within 1.5x
    peer: str = ""         # a second implementation drawn beside switchyard
    note: str = ""


FLAT_LIMIT = 1.5

CURVES = [
    Curve("growth_backlog", "messages queued", "ns_per_op", "O(1)", True,
          note="send + receive + ack, one thread, CPU time"),
    Curve("growth_destinations", "queues and topics declared (each)", "ns_per_op", "O(1)", True,
          note="one send to 64 of the N queues in turn"),
    Curve("growth_bindings", "topic-exchange bindings", "ns_per_op", "O(words of the key)", True,
          note="one send; bind_ns (each bind) is O(N) today"),
    Curve("growth_payload", "payload bytes", "bytes_per_second", "O(bytes)", False,
          peer="memcpy", note="target: >= 0.5x memcpy's bandwidth at 1 MiB"),
    Curve("growth_consumers", "consumer threads (2 cores)", "items_per_second", "O(1)", False,
          note="total throughput; target: >= 0.5x of one consumer at every point"),
    Curve("growth_rebalance", "members = partitions", "ns_per_op", "O(M + P) per join", False,
          note="mean time of one join (a rebalance) while M members join"),
    Curve("growth_recovery", "unacked messages in the log", "ns_per_op", "O(N)", False,
          note="opening the broker; ns_per_message beside it"),
    Curve("growth_metrics", "queues declared", "ns_per_op", "O(N)", False,
          note="broker.metrics(), the Prometheus text"),
]


def curve_points(results, curve, impl="switchyard"):
    """[(N, {counters})] of `curve` for `impl`, the median aggregate where there are
    repetitions, sorted by N; points that reported an error are left out."""
    points, singles = {}, {}
    prefix = f"{curve.name}/{impl}/"
    for b in results.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        if not name.startswith(prefix) or b.get("error_occurred"):
            continue
        n = int(name[len(prefix):].split("/")[0])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                points[n] = b
        else:
            singles.setdefault(n, b)
    for n, b in singles.items():
        points.setdefault(n, b)
    return sorted(points.items())


def evaluate_curve(results, curve):
    """(points, verdict): the verdict says whether the curve meets its target."""
    points = curve_points(results, curve)
    values = [(n, b.get(curve.metric)) for n, b in points if b.get(curve.metric)]
    if len(values) < 2:
        return values, "pending"
    first, last = values[0][1], values[-1][1]
    if curve.name == "growth_payload":
        peer = dict((n, b.get(curve.metric)) for n, b in curve_points(results, curve, "memcpy"))
        top = values[-1][0]
        if not peer.get(top):
            return values, "no memcpy result"
        ratio = last / peer[top]
        return values, f"{ratio:.2f}x memcpy at {top} B: {'met' if ratio >= 0.5 else 'MISSED'}"
    if curve.name == "growth_consumers":
        worst = min(v for _, v in values) / first
        return values, f"worst {worst:.2f}x of one consumer: {'met' if worst >= 0.5 else 'MISSED'}"
    spread = max(v for _, v in values) / min(v for _, v in values)
    if curve.flat:
        return values, (f"spread {spread:.2f}x (<= {FLAT_LIMIT}x): "
                        f"{'met' if spread <= FLAT_LIMIT else 'MISSED'}")
    growth = last / first
    span = values[-1][0] / max(values[0][0], 1)
    return values, f"{curve.complexity}: x{growth:,.0f} over a x{span:,.0f} range"
