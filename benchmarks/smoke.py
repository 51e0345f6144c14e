#!/usr/bin/env python3
"""The benchmarks' smoke test (ctest bench_smoke): runs a few families of switchyard_bench once,
briefly, and fails if any benchmark reported an error (a lost message, a peer that did not
open) or none ran. Not a measurement: the suite never times anything.

  benchmarks/smoke.py build/release/benchmarks/switchyard_bench [FILTER]
"""

import json
import os
import subprocess
import sys
import tempfile

# One of each new shape: a durable queue with every peer that was built, the Redis peers (an
# error if redis-server is missing), pub/sub, and one point of each growth curve.
DEFAULT_FILTER = ("durable_queue_send_receive_ack_64B_none_1p/|pubsub_fanout4/|"
                  "queue_send_receive_ack/redis_streams|"
                  "growth_(backlog|destinations|bindings|metrics|recovery|rebalance)/switchyard/1$|"
                  "growth_payload/(switchyard|memcpy)/16$|growth_consumers/switchyard/2/")


def main():
    binary = sys.argv[1]
    pattern = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_FILTER
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "smoke.json")
        env = dict(os.environ, SWITCHYARD_BENCH_GROWTH_MAX="1000")
        subprocess.run([binary, f"--benchmark_filter={pattern}", "--benchmark_min_time=0.01",
                        f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        with open(out) as f:
            runs = json.load(f).get("benchmarks", [])
    errors = [f"{b['name']}: {b.get('error_message', '?')}" for b in runs if b.get("error_occurred")]
    for e in errors:
        print("bench_smoke: ERROR " + e)
    print(f"bench_smoke: {len(runs)} benchmarks ran, {len(errors)} reported an error")
    sys.exit(1 if errors or not runs else 0)


if __name__ == "__main__":
    main()
