"""Shared pieces of the benchmark programs: servers, the ingest as a process, sampling."""

from __future__ import annotations

import itertools
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import ManagedProcess, free_port, wait_until

TIANSHAN = [sys.executable, "-m", "tianshan", "--log-level", "WARNING"]


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/cpuinfo") as f:
        model = next(
            (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?"
        )
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpus} cores ({model}), {mem_gib:.0f} GiB, Python {platform.python_version()}"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Rig:
    """Broker, InfluxDB and a folder for one benchmark run."""

    root: Path
    broker: MosquittoServer
    influx: InfluxServer
    database: str = "bench"
    processes: list[ManagedProcess] = field(default_factory=list)

    def cloud_env(self, **extra: str) -> dict[str, str]:
        return (
            os.environ
            | {
                "TIANSHAN_CLOUD__ENVIRONMENT": "test",
                "TIANSHAN_CLOUD__BROKER__PORT": str(self.broker.port),
                "TIANSHAN_CLOUD__INFLUX__URL": self.influx.url,
                "TIANSHAN_CLOUD__INFLUX__DATABASE": self.database,
                "TIANSHAN_CLOUD__SQL__URL": f"sqlite:///{self.root}/cloud.sqlite",
            }
            | extra
        )

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> ManagedProcess:
        process = ManagedProcess(
            name,
            [*TIANSHAN, *args],
            log_path=self.root / f"{name}.log",
            env=env or os.environ.copy(),
        )
        process.start()
        self.processes.append(process)
        return process

    def ingest(self, name: str = "bench") -> tuple[ManagedProcess, str]:
        """An ingest worker in share group ``name`` (a group of its own: an offline
        session left in a group keeps taking its share of the messages)."""
        port = free_port()
        process = self.spawn(
            f"ingest-{name}",
            "ingest",
            "--name",
            name,
            "--metrics-port",
            str(port),
            env=self.cloud_env(TIANSHAN_CLOUD__INGEST__SHARE_GROUP=name),
        )
        url = f"http://127.0.0.1:{port}/metrics"
        process.wait_ready(lambda: metric(url, "tianshan_ingest_broker_connected") == 1, timeout=60)
        return process, url


@contextmanager
def rig(prefix: str) -> Iterator[Rig]:
    root = Path(tempfile.mkdtemp(prefix=f"tianshan-bench-{prefix}-"))
    broker = MosquittoServer(root / "mosquitto").start()
    influx = InfluxServer(root / "influxdb").start()
    influx.create_database("bench")
    r = Rig(root, broker, influx)
    try:
        yield r
    finally:
        for process in reversed(r.processes):
            process.stop()
        broker.stop()
        influx.stop()


def metric(url: str, name: str, labels: str = "") -> float:
    """One sample from a Prometheus text page (0 if absent or unreachable)."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError:
        return 0.0
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass
class Drain:
    """A counter sampled while it climbs to a target."""

    total: float
    seconds: float
    rates: list[float]
    cpu_seconds: float | None = None  # the consumer's CPU time over the drain, if asked

    @property
    def cpu_us_per_unit(self) -> float:
        """CPU time the consumer spent per counted unit, in µs (NaN if not measured)."""
        if self.cpu_seconds is None or not self.total:
            return math.nan
        return self.cpu_seconds / self.total * 1e6

    @property
    def median_rate(self) -> float:
        """Median of the whole windows; the mean when the drain was too short for three."""
        return statistics.median(self.rates) if len(self.rates) >= 3 else self.mean_rate

    @property
    def mean_rate(self) -> float:
        return self.total / self.seconds


def sample_until(
    read: Callable[[], float],
    target: float,
    *,
    poll: float = 0.25,
    window: int = 2,
    timeout: float = 900,
    cpu: Callable[[], float | None] | None = None,
) -> Drain:
    """Poll ``read`` every ``poll`` seconds until it reaches ``target``. The drain runs
    from the first change to the target; its rates are over windows of ``window``
    polls (0.5 s), so start-up is not counted and a median is possible. Polling is
    slow on purpose: each poll is a /metrics scrape the measured process pays for
    (at 20 Hz it took about 8% of the ingest's CPU)."""
    wait_until(lambda: read() > 0, timeout=timeout, interval=0.01, what="the first count")
    cpu_start = cpu() if cpu else None
    samples = [(time.monotonic(), read())]
    deadline = time.monotonic() + timeout
    while samples[-1][1] < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stuck at {samples[-1][1]:.0f} of {target:.0f}")
        time.sleep(poll)
        samples.append((time.monotonic(), read()))
    if samples[-1][0] == samples[0][0]:
        # Over before the first poll (a --quick backlog): no rate to report.
        print(f"  the drain reached {target:,.0f} before it could be timed", flush=True)
        return Drain(samples[-1][1], math.nan, [])
    cpu_end = cpu() if cpu else None
    edges = samples[::window]
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(edges)]
    used = cpu_end - cpu_start if cpu_start is not None and cpu_end is not None else None
    return Drain(samples[-1][1] - samples[0][1], samples[-1][0] - samples[0][0], rates, used)


def fmt(x: float) -> str:
    return f"{x:,.0f}"
