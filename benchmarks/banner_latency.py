"""Banner latency under load: `correlate api` answering GET /v1/known-incidents at a fixed request rate.

    python benchmarks/banner_latency.py [--rate 500] [--seconds 20] [--incidents 300]

Starts a Redis (the embedded one) and `correlate api` as a separate process, fills the store with open
incidents on many scopes, then sends requests on a fixed schedule (open loop: a request is due at its slot
whether or not earlier ones have answered) from this process with an aiohttp client. Latency is measured from
the slot, not from the send, so a stalled server cannot hide its queue (no coordinated omission). Prints p50,
p90, p99 and max, and the rate achieved. Target: p99 <= 10 ms at 500 requests/s. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from correlate.access import Claims, load_secret, mint
from correlate.api.serve import read_state
from correlate.contracts import format_time
from correlate.embedded import EmbeddedRedis
from correlate.store import IncidentStore

BRANDS = [f"Brand{i}" for i in range(40)]
SERVICES = [f"Service{i}" for i in range(25)]
REGIONS = ["North", "South", "East", "West"]


def incident_event(index: int, rng: random.Random, opened: float) -> dict[str, Any]:
    kind = index % 3
    if kind == 0:
        scope = {"device_brand": rng.choice(BRANDS)}
    elif kind == 1:
        scope = {"service": rng.choice(SERVICES)}
    else:
        scope = {"device_brand": rng.choice(BRANDS), "service": rng.choice(SERVICES)}
    vendors = sorted({value.lower() for value in scope.values()})
    return {
        "event": "opened",
        "incident_id": f"inc-bench{index:06d}",
        "kind": "rate",
        "opened_at": format_time(opened),
        "at": format_time(opened),
        "scope": scope,
        "vendors": {"at_fault": vendors, "affected": []},
        "evidence": {"contacts": 40, "customers": 30 + index % 200, "categories": {f"E{1000 + index % 50}": 9}},
        "confidence": 0.9999,
        "p_value": 1e-9,
        "summary": "bench",
    }


async def fill(url: str, count: int) -> None:
    rng = random.Random(7)
    store = IncidentStore.connect(url)
    now = time.time()
    for index in range(count):
        await store.apply(incident_event(index, rng, now - rng.uniform(60, 7200)))
    for index in range(0, count, 5):  # a few follow-ups, so the customer flag is real work
        await store.attach(f"inc-bench{index:06d}", "bench", customer_id=f"cu-{index}")
    await store.close()


async def load(url: str, token: str, rate: float, seconds: float) -> tuple[list[float], int, float]:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {token}"}
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(slot: float) -> None:
            nonlocal errors
            params = {"device_brand": rng.choice(BRANDS), "service": rng.choice(SERVICES)}
            if rng.random() < 0.5:
                params["customer_id"] = f"cu-{rng.randrange(0, 400, 5)}"
            if rng.random() < 0.3:
                params["region"] = rng.choice(REGIONS)
            async with session.get(f"{url}/v1/known-incidents", params=params) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - slot)

        for _ in range(200):  # warm the connection pool and the server's caches
            await one(time.perf_counter())
        latencies.clear()
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
    return latencies, errors, total / elapsed


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
    args = parser.parse_args()
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
            token = mint(load_secret(home), Claims("agent", name="bench"))
            before = cpu_seconds(process.pid)
            latencies, errors, achieved = asyncio.run(load(state["url"], token, args.rate, args.seconds))
            server_cpu = cpu_seconds(process.pid) - before
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    ms = [value * 1000 for value in latencies]
    print(
        f"banner latency: {len(ms)} requests at {achieved:.0f}/s (asked {args.rate:.0f}/s), {errors} errors, "
        f"{args.incidents} open incidents"
    )
    print(
        f"  p50 {percentile(ms, 0.50):.2f} ms   p90 {percentile(ms, 0.90):.2f} ms   "
        f"p99 {percentile(ms, 0.99):.2f} ms   max {max(ms):.2f} ms   mean {statistics.fmean(ms):.2f} ms"
    )
    per_request = server_cpu / (len(ms) + 200) * 1e6
    print(
        f"  API process CPU: {per_request:.0f} us per request ({server_cpu / args.seconds:.0%} of a core), "
        f"load average before the run {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
