"""Ingest throughput: simulated devices → Mosquitto → ingest → InfluxDB, QoS 1,
acknowledged after the write; beside a bare paho v5 subscriber draining the same
backlog, in the same run.

Method: the ingest and two bare subscribers each hold a persistent MQTT v5 session
(shared subscription groups of their own), offline; `tianshan sim` publishes one
backlog through the real edge code, which the broker queues for each; then each
drains it alone while its counter is sampled every 0.5 s. A round's figures are
medians of those intervals; the ingest's figure counts readings once InfluxDB has them.
The bare subscribers acknowledge and discard: one on paho's client (the yardstick of
the target), one on the ingest's own client (``cloud.mqtt_client``, which reads in
blocks and skips paho's per-message objects), so that the ratio to it shows what the
ingest's work costs beyond receiving.
Each phase runs several rounds (a fresh backlog each, bare subscribers then ingest, so
all see the same machine at nearly the same time) and reports the median over rounds
of each figure, the ratios included: on this shared machine one round's ratio ranged
from 0.41 to 0.84 over the same code.

    python -m bench.ingest            (make bench-ingest)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, replace

from bench.common import Drain, Rig, fmt, load_average, machine, metric, rig, sample_until
from tests.helpers import influx_scalar
from tianshan.servers.process import ManagedProcess, free_port


@dataclass
class Phase:
    name: str
    devices: int
    readings: int
    batch: int

    @property
    def messages(self) -> int:
        return self.readings // self.batch


def run_phase(r: Rig, phase: Phase) -> dict[str, object]:
    r.database = f"bench_{phase.name}"
    r.influx.create_database(r.database)
    # 1. The consumers make their sessions, then go offline so the broker queues.
    ingest, _ = r.ingest(phase.name)
    ingest.stop()
    bare = [_Bare(r, phase, lean=False), _Bare(r, phase, lean=True)]
    for consumer in bare:
        consumer.subscribe()
    # 2. One backlog through the real edge code.
    print(
        f"  {phase.name}: publishing {fmt(phase.readings)} readings in "
        f"{fmt(phase.messages)} messages from {phase.devices} simulated devices…",
        flush=True,
    )
    per_device = phase.readings // phase.devices
    sim = r.spawn(
        f"sim-{phase.name}",
        "sim",
        "--devices",
        str(phase.devices),
        "--rate",
        "1e9",
        "--count",
        str(per_device),
        "--batch",
        str(phase.batch),
        "--batch-age",
        "0.05",
        "--broker",
        f"127.0.0.1:{r.broker.port}",
        "--data-dir",
        str(r.root / f"sim-{phase.name}"),
        "--prefix",
        phase.name,
        "--heartbeat",
        "3600",
    )
    assert sim.proc is not None
    if sim.proc.wait(1800) != 0:
        raise SystemExit(f"sim failed: {sim.tail()}")
    # 3. Each bare subscriber drains.
    bare_drain, lean_drain = (consumer.drain(phase.messages) for consumer in bare)
    # 4. The ingest drains the same backlog into InfluxDB.
    ingest, url = r.ingest(phase.name)
    ingest_drain = sample_until(
        lambda: metric(url, "tianshan_ingest_readings_total"),
        phase.readings,
        cpu=ingest.cpu_seconds,
    )
    peak_rss = ingest.peak_rss_kib()
    ingest.stop()
    stored = influx_scalar(r.influx, r.database, 'SELECT count("temperature") FROM telemetry')
    expected = sum(1 for i in range(per_device) if i % 4 == 0) * phase.devices
    if stored != expected:
        raise SystemExit(f"InfluxDB holds {stored} temperature points, expected {expected}")
    return report(phase, bare_drain, lean_drain, ingest_drain, peak_rss)


LEAN_RATIO = "ingest / bare on the ingest's client"


class _Bare:
    """A bare subscriber of its own share group: paho's client, or the ingest's (lean)."""

    def __init__(self, r: Rig, phase: Phase, *, lean: bool) -> None:
        name = f"{'lean' if lean else 'bare'}-{phase.name}"
        self.name = name
        self.log = r.root / f"{name}.log"
        self.args = [
            sys.executable,
            "-m",
            "bench.bare_subscriber",
            "--port",
            str(r.broker.port),
            "--client-id",
            name,
            "--topic",
            f"$share/{name}/tianshan/v1/dev/+/telemetry",
            *(["--lean"] if lean else []),
        ]

    def subscribe(self) -> None:
        """Make the persistent session and leave: the broker queues from now on."""
        subscribing = ManagedProcess(
            f"{self.name}-subscribe", [*self.args, "--subscribe-only"], log_path=self.log
        )
        subscribing.start()
        assert subscribing.proc is not None
        subscribing.proc.wait(30)

    def drain(self, messages: int) -> Drain:
        port = free_port()
        process = ManagedProcess(
            self.name, [*self.args, "--metrics-port", str(port)], log_path=self.log
        )
        process.start()
        url = f"http://127.0.0.1:{port}/metrics"
        drained = sample_until(
            lambda: metric(url, "bench_bare_messages_total"), messages, cpu=process.cpu_seconds
        )
        process.stop()
        return drained


def report(
    phase: Phase, bare: Drain, lean: Drain, ingest: Drain, peak_rss: int | None
) -> dict[str, object]:
    readings_s = ingest.median_rate
    messages_s = readings_s / phase.batch
    ratio = messages_s / bare.median_rate
    return {
        "phase": phase.name,
        "readings": phase.readings,
        "messages": phase.messages,
        "ingest readings/s (median)": readings_s,
        "ingest messages/s (median)": messages_s,
        "ingest readings/s (mean over drain)": ingest.mean_rate,
        "bare subscriber messages/s (median)": bare.median_rate,
        "ingest / bare": ratio,
        "bare subscriber on the ingest's MQTT client, messages/s": lean.median_rate,
        LEAN_RATIO: messages_s / lean.median_rate,
        "bare subscriber CPU µs/message": bare.cpu_us_per_unit,
        "bare on the ingest's client, CPU µs/message": lean.cpu_us_per_unit,
        "ingest CPU µs/message": ingest.cpu_us_per_unit * phase.batch,
        "ingest peak RSS MiB": (peak_rss or 0) / 1024,
    }


def median_of(phase: Phase, rounds: list[dict[str, object]]) -> dict[str, object]:
    """Each figure's median over the rounds; the per-round ratios are listed too."""
    out: dict[str, object] = {"phase": phase.name, "rounds": len(rounds)}
    for key, value in rounds[0].items():
        if key == "phase":
            continue
        if isinstance(value, (int, float)):
            out[key] = statistics.median(float(r[key]) for r in rounds)  # type: ignore[arg-type]
        else:
            out[key] = value
    for key in ("ingest / bare", LEAN_RATIO):
        ratios = [f"{float(r[key]):.2f}" for r in rounds]  # type: ignore[arg-type]
        out[f"{key}, each round"] = ", ".join(ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small backlogs (to check the program)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per phase; medians are reported"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    scale = 10 if args.quick else 1
    phases = [
        Phase("batched", devices=10, readings=4_000_000 // scale, batch=500),
        Phase("single", devices=10, readings=300_000 // min(scale, 3), batch=1),
    ]
    print(f"machine: {machine()}; load average before: {load_average()}", flush=True)
    results = []
    with rig("ingest") as r:
        for phase in phases:
            rounds = []
            for i in range(args.rounds):
                print(f"{phase.name}: round {i + 1} of {args.rounds}", flush=True)
                rounds.append(run_phase(r, replace(phase, name=f"{phase.name}{i + 1}")))
                last = rounds[-1]
                lean = last[LEAN_RATIO]
                print(f"  ratio {last['ingest / bare']:.2f} (lean: {lean:.2f})", flush=True)
            results.append(median_of(phase, rounds))
    print()
    print("| | batched telemetry (500 readings/message) | one reading per message |")
    print("|---|---|---|")
    keys = [k for k in results[0] if k not in {"phase"}]
    for key in keys:
        cells = [
            f"{v:,.2f}"
            if isinstance(v, float) and v < 10
            else (fmt(v) if isinstance(v, (int, float)) else str(v))
            for v in (res[key] for res in results)
        ]
        print(f"| {key} | {' | '.join(cells)} |")
    print()
    print(f"load average after: {load_average()}")
    print("command: python -m bench.ingest  (make bench-ingest)")


if __name__ == "__main__":
    main()
