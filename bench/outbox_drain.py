"""Outbox drain after an outage: one edge agent buffers 1,000,000 readings while the
broker is down; then the broker returns and the outbox drains into InfluxDB.

Method: broker, InfluxDB and the ingest run; the broker is stopped; `tianshan sim`
(one device: the real edge agent and outbox) stores the readings; the broker is
started again. The rate is readings in InfluxDB per second, sampled every 0.5 s
from the ingest's metrics, from the first reading written to the last (the
reconnect wait is reported apart). The peak RSS is the edge process's VmHWM.

    python -m bench.outbox_drain      (make bench-outbox)
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
import time
from pathlib import Path

from bench.common import fmt, load_average, machine, metric, rig, sample_until
from tests.helpers import count_readings
from tianshan.servers.process import wait_until


def stored_readings(outbox: Path) -> int:
    if not outbox.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'readings_stored'").fetchone()
    except sqlite3.OperationalError:  # the agent is still creating its tables
        return 0
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="readings per message")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average before: {load_average()}", flush=True)
    with rig("outbox") as r:
        r.database = "bench_outbox"
        r.influx.create_database(r.database)
        _, metrics_url = r.ingest("outbox")
        r.broker.stop()
        base = r.root / "edge.toml"
        base.write_text(
            '[device]\nid = "x"\n[mqtt]\nreconnect_min_s = 0.5\nreconnect_max_s = 2.0\n'
        )
        data = r.root / "edge"
        edge = r.spawn(
            "edge",
            "sim",
            "--devices",
            "1",
            "--rate",
            "1e9",
            "--count",
            str(args.readings),
            "--batch",
            str(args.batch),
            "--broker",
            f"127.0.0.1:{r.broker.port}",
            "--config",
            str(base),
            "--data-dir",
            str(data),
            "--prefix",
            "outage",
            "--heartbeat",
            "3600",
            "--drain-timeout",
            "1800",
        )
        outbox = data / "outage-000" / "outbox.sqlite"
        started = time.monotonic()
        wait_until(
            lambda: stored_readings(outbox) >= args.readings,
            timeout=900,
            what="the readings in the outbox",
        )
        buffered_s = time.monotonic() - started
        size_mib = sum(p.stat().st_size for p in outbox.parent.glob("outbox.sqlite*")) / 2**20
        print(
            f"  {fmt(args.readings)} readings buffered in {buffered_s:.1f} s "
            f"({size_mib:.0f} MiB on disk); starting the broker",
            flush=True,
        )
        # VmHWM is a high-water mark, but only readable while the agent runs: it exits
        # once its outbox is empty, which may be before the ingest has written the rest.
        peaks: list[int] = []
        watching = threading.Event()

        def watch_rss() -> None:
            while not watching.wait(0.2):
                kib = edge.peak_rss_kib()
                if kib is None:
                    return
                peaks.append(kib)

        watcher = threading.Thread(target=watch_rss, daemon=True)
        watcher.start()
        r.broker.start()
        back = time.monotonic()
        drain = sample_until(
            lambda: metric(metrics_url, "tianshan_ingest_readings_total"),
            args.readings,
            timeout=1800,
        )
        first_after_s = time.monotonic() - back - drain.seconds
        assert edge.proc is not None
        edge.proc.wait(120)
        watching.set()
        watcher.join()
        peak_rss = max(peaks, default=None)
        in_influx = count_readings(r.influx, r.database)
        if in_influx != args.readings:
            raise SystemExit(f"InfluxDB holds {in_influx} readings, expected {args.readings}")
    print()
    print("| outbox drain after an outage | |")
    print("|---|---|")
    buffered = f"{fmt(args.readings)} ({args.batch} per message, {size_mib:.0f} MiB outbox)"
    print(f"| readings buffered | {buffered} |")
    print(
        f"| drain into InfluxDB, readings/s (median of 0.5 s windows) | {fmt(drain.median_rate)} |"
    )
    print(f"| drain into InfluxDB, readings/s (mean, first to last) | {fmt(drain.mean_rate)} |")
    print(f"| broker back → first reading written | {first_after_s:.1f} s |")
    print(f"| edge agent peak RSS (VmHWM) | {(peak_rss or 0) / 1024:.0f} MiB |")
    print(f"| InfluxDB count after drain | {fmt(in_influx)} (exact) |")
    print()
    print(f"load average after: {load_average()}")
    print("command: python -m bench.outbox_drain  (make bench-outbox)")


if __name__ == "__main__":
    main()
