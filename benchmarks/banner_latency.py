"""Banner latency under load: `correlate api` answering GET /v1/known-incidents at a fixed request rate.

    python benchmarks/banner_latency.py [--rate 500] [--seconds 20] [--incidents 300]

Starts a Redis (the embedded one) and `correlate api` as a separate process, fills the store with open
incidents on many scopes, then sends requests on a fixed schedule (open loop: a request is due at its slot
whether or not earlier ones have answered) from this process with a minimal keep-alive HTTP client.
Latency is measured from the slot, not from the send, so a stalled server cannot hide its queue (no
coordinated omission). Prints p50, p90, p99 and max, the rate achieved, and the API process's CPU time per
request (what the server costs, whatever else shares the machine). Target: p99 <= 10 ms at 500 requests/s.
Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from correlate.api.access import Claims, keys_path, load_keys, mint
from correlate.api.serve import read_state
from correlate.contracts import format_time
from correlate.events import EventName, IncidentEvent, IncidentEvidence, Kind, Vendors
from correlate.store import IncidentStore
from correlate.streams.embedded import EmbeddedRedis

# --spread: how many brands and services the incidents are spread over. The default (200 x 60) makes a query
# match about one incident, as in a centre with many open incidents; --spread 40 matches about seven.
BRANDS: list[str] = []
SERVICES: list[str] = []
REGIONS = ["North", "South", "East", "West"]


def incident_event(index: int, rng: random.Random, opened: float) -> IncidentEvent:
    kind = index % 3
    if kind == 0:
        scope = {"device_brand": rng.choice(BRANDS)}
    elif kind == 1:
        scope = {"service": rng.choice(SERVICES)}
    else:
        scope = {"device_brand": rng.choice(BRANDS), "service": rng.choice(SERVICES)}
    vendors = sorted({value.lower() for value in scope.values()})
    return IncidentEvent(
        event=EventName.OPENED,
        incident_id=f"inc-bench{index:06d}",
        kind=Kind.RATE,
        opened_at=format_time(opened),
        at=format_time(opened),
        scope=scope,
        vendors=Vendors(tuple(vendors), ()),
        evidence=IncidentEvidence(
            contacts=40,
            customers=30 + index % 200,
            observed=30.0,
            expected=5.0,
            window_minutes=60.0,
            by_channel={"voice": 40},
            by_source={"own": 40},
            categories={f"E{1000 + index % 50}": 9},
            first_contact_at=format_time(opened),
            sample_texts=(),
        ),
        confidence=0.9999,
        p_value=1e-9,
        summary="bench",
    )


async def fill(url: str, count: int) -> None:
    rng = random.Random(7)
    store = IncidentStore.connect(url)
    now = time.time()
    for index in range(count):
        await store.apply(incident_event(index, rng, now - rng.uniform(60, 7200)))
    for index in range(0, count, 5):  # a few follow-ups, so the customer flag is real work
        await store.attach(f"inc-bench{index:06d}", "bench", customer_id=f"cu-{index}")
    await store.close()


class Connection:
    """One keep-alive HTTP/1.1 connection with a hand-written request and a minimal response reader: the load
    generator must cost far less than the server it measures (aiohttp's client costs about as much per request
    as the API itself, and on a shared 2-core machine that would measure the client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, target: str, host: str, token: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


async def load(url: str, token: str, rate: float, seconds: float) -> tuple[list[float], int, float, float]:
    rng = random.Random(11)
    total = int(rate * seconds)
    latencies: list[float] = []
    counts: list[int] = []
    errors = 0
    host_port = url.split("//", 1)[1]
    host, port = host_port.split(":")
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(32):
        idle.put_nowait(Connection(*await asyncio.open_connection(host, int(port))))

    async def one(slot: float) -> None:
        nonlocal errors
        params = {"device_brand": rng.choice(BRANDS), "service": rng.choice(SERVICES)}
        if rng.random() < 0.5:
            params["customer_id"] = f"cu-{rng.randrange(0, 400, 5)}"
        if rng.random() < 0.3:
            params["region"] = rng.choice(REGIONS)
        connection = await idle.get()
        try:
            status, body = await connection.get("/v1/known-incidents?" + urlencode(params), host_port, token)
        finally:
            idle.put_nowait(connection)
        latencies.append(time.perf_counter() - slot)
        if status != 200:
            errors += 1
        else:
            counts.append(json.loads(body)["count"])

    for _ in range(200):  # warm up the connections and the server
        await one(time.perf_counter())
    latencies.clear()
    counts.clear()
    start = time.perf_counter()
    tasks = []
    for index in range(total):
        slot = start + index / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(slot)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    return latencies, errors, total / elapsed, statistics.fmean(counts) if counts else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what the API spent, whatever else shares the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the run (default 20)")
    parser.add_argument("--incidents", type=int, default=300, help="open incidents in the store (default 300)")
    parser.add_argument("--spread", type=int, default=200, help="brands (services: 30%%) incidents are spread over")
    args = parser.parse_args()
    BRANDS[:] = [f"Brand{i}" for i in range(args.spread)]
    SERVICES[:] = [f"Service{i}" for i in range(max(1, int(args.spread * 0.3)))]
    workdir = Path(tempfile.mkdtemp(prefix="correlate-bench-"))
    home = workdir / "home"
    with EmbeddedRedis().start(workdir / "redis", persistent=False) as redis:
        asyncio.run(fill(redis.url, args.incidents))
        process = subprocess.Popen(
            [sys.executable, "-m", "correlate.cli", "api", "--home", str(home), "--store", redis.url, "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "CORRELATE_HOME": str(home)},
        )
        try:
            deadline = time.monotonic() + 30
            while (state := read_state(home)) is None:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("correlate api did not start")
                time.sleep(0.1)
            token = mint(load_keys(*keys_path(home)), Claims("agent", name="bench"))
            before = cpu_seconds(process.pid)
            latencies, errors, achieved, matched = asyncio.run(load(state["url"], token, args.rate, args.seconds))
            server_cpu = cpu_seconds(process.pid) - before
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    ms = [value * 1000 for value in latencies]
    print(
        f"banner latency: {len(ms)} requests at {achieved:.0f}/s (asked {args.rate:.0f}/s), {errors} errors, "
        f"{args.incidents} open incidents, {matched:.1f} matching a query on average"
    )
    print(
        f"  p50 {percentile(ms, 0.50):.2f} ms   p90 {percentile(ms, 0.90):.2f} ms   "
        f"p99 {percentile(ms, 0.99):.2f} ms   max {max(ms):.2f} ms   mean {statistics.fmean(ms):.2f} ms"
    )
    per_request = server_cpu / (len(ms) + 200) * 1e6
    print(
        f"  API process CPU: {per_request:.0f} us per request ({server_cpu / args.seconds:.0%} of a core); "
        f"load average {os.getloadavg()[0]:.2f} (2 cores, shared)"
    )


if __name__ == "__main__":
    main()
