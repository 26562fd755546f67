"""The pipeline's commands: ``up``, ``down``, ``status``, ``worker``, ``produce``, ``subscribe``.

``cli.build_parser`` calls :func:`add_parsers`; each command reads the ``[stack]`` settings
(:mod:`correlate.streams.settings`), and ``produce``/``subscribe``/``worker`` fall back to the running local
stack's state file when no broker is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from typing import IO, Any

from correlate.config import Config, ConfigError, load_config
from correlate.extras import require
from correlate.streams.settings import StackSettings, load_stack_settings
from correlate.topics import INCIDENTS, vendor_topic

__all__ = ["STATUS_EXIT", "add_parsers"]


def _stack(args: argparse.Namespace) -> tuple[Config, StackSettings]:
    config = load_config(args.config)
    overrides = {name: getattr(args, name, None) for name in ("broker", "store", "home")}
    return config, load_stack_settings(config.section("stack"), **overrides)


def _broker(settings: StackSettings, command: str) -> str:
    """The configured broker, else the local stack's."""
    if settings.broker:
        return settings.broker
    from correlate.streams.stack import read_state

    state = read_state(settings.home_path)
    if state is None:
        raise ConfigError(
            f"no broker: give --broker (or CORRELATE_BROKER), or start a local stack with `correlate up` "
            f"(none found in {settings.home_path})"
        )
    return str(state["broker"])


def _runner_extras(settings: StackSettings) -> list[str]:
    return ["faust"] if settings.validate_runner == "faust" else []


def _up(args: argparse.Namespace) -> int:
    _config, settings = _stack(args)
    # Workers and the API always; the embedded broker and Redis for whatever is not configured.
    local = ["local"] if settings.broker is None or settings.store is None else []
    require("up", *local, "kafka", "store", "api", *_runner_extras(settings))
    from correlate.streams.stack import run_up

    return run_up(settings, args.config, workers=args.workers)


# Exit codes of `correlate status`: 0 healthy, 1 not healthy (or no stack), 3 still starting.
STATUS_EXIT = {"healthy": 0, "starting": 3, "unhealthy": 1, "stopped": 1}


def _status(args: argparse.Namespace) -> int:
    require("status", "kafka", "store")  # the workers' health reports and the leader's lease
    from correlate.streams.stack import stack_status

    _config, settings = _stack(args)
    status = stack_status(settings.home_path)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        word = {"healthy": "healthy", "starting": "starting", "unhealthy": "NOT healthy"}.get(status["phase"])
        print(f"stack in {status['home']}: {word or 'NOT healthy (not running)'}")
        for name in ("broker", "store", "api", "leader"):
            print(f"  {name}: {status.get(name)}")
        if status.get("api_note"):
            print(f"  api: {status['api_note']}")
        for url in status.get("metrics", []):
            print(f"  metrics: {url}")
        waiting = "waiting" if status["phase"] == "starting" else "FAILING"
        for check, ok in status.get("checks", {}).items():
            print(f"  {check}: {'ok' if ok else waiting}")
        for problem in status.get("problems", []):
            print(f"  {problem}")
        if "reason" in status:
            print(f"  {status['reason']}")
    return STATUS_EXIT[status["phase"]]


def _down(args: argparse.Namespace) -> int:
    from correlate.streams.stack import run_down

    _config, settings = _stack(args)
    return run_down(settings.home_path)


def _worker(args: argparse.Namespace) -> int:
    config, settings = _stack(args)
    require("worker", "kafka", "store", *_runner_extras(settings))
    from correlate.streams.worker import WorkerOptions, main_worker

    broker = _broker(settings, "worker")
    store = settings.store
    if store is None:
        from correlate.streams.stack import read_state

        state = read_state(settings.home_path)
        if state is None:
            raise ConfigError("no store: give --store (or CORRELATE_STORE), or start a local stack with `correlate up`")
        store = str(state["store"])
    options = WorkerOptions(settings, config, broker, store, args.metrics_port, args.metrics_host)
    return main_worker(options)


def _produce(args: argparse.Namespace) -> int:
    import time

    require("produce", "kafka")
    from correlate.replay import merge_by_event_time
    from correlate.streams.client import BrokerGone, produce

    _config, settings = _stack(args)
    broker = _broker(settings, "produce")
    topic = settings.topic(args.topic or settings.input_topics[0])
    _quiet_clients()
    started = time.monotonic()
    show = None if args.quiet or not sys.stderr.isatty() else _progress_line
    with ExitStack() as stack:
        first: Any = sys.stdin.buffer if args.input == "-" else stack.enter_context(open(args.input, "rb"))
        more = [stack.enter_context(open(path, "rb")) for path in args.merge]
        lines = merge_by_event_time([first, *more])  # as replay --merge reads them: the same stream
        try:
            count = asyncio.run(produce(broker, topic, lines, speed=args.speed, rate=args.rate, progress=show))
        except BrokerGone as gone:
            if show is not None:
                print(file=sys.stderr)
            print(f"correlate produce: {gone}", file=sys.stderr)
            return 1
    seconds = time.monotonic() - started
    if show is not None:
        print("\r\x1b[K", end="", file=sys.stderr)
    if not args.quiet:
        rate = count / max(seconds, 1e-9)
        print(f"produce: {count} records to {topic} in {seconds:.1f} s ({rate:,.0f}/s)", file=sys.stderr)
    return 0


def _quiet_clients() -> None:
    """The Kafka client logs every failed reconnection, and asyncio every send it gave up on: produce says what
    went wrong itself, in one line (:class:`~correlate.streams.client.BrokerGone`)."""
    import logging

    for name in ("aiokafka", "kafka", "asyncio"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _progress_line(count: int, seconds: float) -> None:
    """The running count on one terminal line, rewritten in place."""
    rate = count / max(seconds, 1e-9)
    print(f"\rproduce: {count:,} records, {rate:,.0f}/s\x1b[K", end="", file=sys.stderr, flush=True)


def _subscribe(args: argparse.Namespace) -> int:
    require("subscribe", "kafka")
    from correlate.streams.client import stdout, subscribe, vendors_with_topics

    _config, settings = _stack(args)
    broker = _broker(settings, "subscribe")
    topic = settings.topic(INCIDENTS if args.all else vendor_topic(args.vendor))

    def missing(topics: set[str]) -> None:
        """The vendor has no topic yet: say which vendors do, so a misspelt id is seen at once."""
        vendors = vendors_with_topics(topics, settings.topic_prefix)
        known = ", ".join(vendors) if vendors else "none yet"
        print(
            f"correlate subscribe: no topic {topic} yet (a vendor's topic appears with its first incident); "
            f"vendors with a topic: {known}. Waiting for it...",
            file=sys.stderr,
            flush=True,
        )

    out: IO[bytes] = stdout()
    asyncio.run(
        subscribe(
            broker,
            topic,
            out,
            count=args.count,
            idle_timeout=args.timeout,
            from_beginning=not args.new_only,
            on_missing=None if args.all else missing,
        )
    )
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="settings file (TOML or JSON; a [stack] table for these commands)")
    parser.add_argument("--home", help="where the local stack keeps its state (default ~/.correlate, CORRELATE_HOME)")


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the pipeline's commands."""
    up = subparsers.add_parser(
        "up",
        help="run the whole pipeline locally (embedded broker and Redis unless configured)",
        description="Starts Tansu and Redis (unless --broker/--store), creates the topics, runs the workers; "
        "Ctrl-C or SIGTERM stops everything.",
    )
    _common(up)
    up.add_argument("--broker", help="use this Kafka instead of starting Tansu")
    up.add_argument("--store", help="use this Redis instead of starting one")
    up.add_argument("--workers", type=int, default=1, help="worker processes to run (default 1)")
    up.set_defaults(func=_up)

    status = subparsers.add_parser(
        "status",
        help="is the local stack up and healthy (exit 0), still starting (exit 3), or not (exit 1)",
        description="Checks the broker, the store, every process, every stage (stuck? over its memory "
        "budget?) and the detect leader. Exit 0: healthy; 3: starting (a fresh stack, not yet ready); 1: not "
        "healthy, or no stack running.",
    )
    _common(status)
    status.add_argument("--json", action="store_true", help="print where everything is, as JSON")
    status.set_defaults(func=_status)

    down = subparsers.add_parser(
        "down",
        help="stop the stack `correlate up` runs (workers and API first, then the broker and store)",
        description="Stops what `up` started from this home, children first; says what it stopped. Running it "
        "when nothing runs is not an error.",
    )
    _common(down)
    down.set_defaults(func=_down)

    worker = subparsers.add_parser(
        "worker",
        help="a pipeline worker: validates its share of the input, stands by to lead detection",
    )
    _common(worker)
    worker.add_argument("--broker", help="Kafka bootstrap servers (env CORRELATE_BROKER)")
    worker.add_argument("--store", help="Redis URL for the leader lease (env CORRELATE_STORE)")
    worker.add_argument("--metrics-port", type=int, default=0, help="Prometheus metrics port (0: any free port)")
    worker.add_argument("--metrics-host", default="127.0.0.1", help="metrics address (default loopback)")
    worker.set_defaults(func=_worker)

    produce = subparsers.add_parser(
        "produce", help="publish a JSONL file of contacts (and telemetry, status records) to the input topic"
    )
    _common(produce)
    produce.add_argument("input", help="contacts file (JSONL), '-' for stdin")
    produce.add_argument(
        "--merge", action="append", default=[], metavar="FILE", help="more input (e.g. telemetry), merged by event time"
    )
    produce.add_argument("--broker", help="Kafka bootstrap servers (default: the local stack's)")
    produce.add_argument("--topic", help="input topic (default the first of input_topics)")
    pace = produce.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=float, help="pace by event time, this many times faster than real time (a target)"
    )
    pace.add_argument("--rate", type=float, help="pace at this many records a second")
    produce.add_argument("--quiet", "-q", action="store_true", help="no progress line and no summary on stderr")
    produce.set_defaults(func=_produce)

    subscribe = subparsers.add_parser("subscribe", help="print incident events as JSON lines (as replay writes)")
    _common(subscribe)
    which = subscribe.add_mutually_exclusive_group(required=True)
    which.add_argument("--vendor", help="one vendor's incidents (incidents.vendor.<id>)")
    which.add_argument("--all", action="store_true", help="every incident event (the incidents topic)")
    subscribe.add_argument("--broker", help="Kafka bootstrap servers (default: the local stack's)")
    subscribe.add_argument("--count", type=int, help="stop after this many events")
    subscribe.add_argument("--timeout", type=float, help="stop after this many seconds without an event")
    subscribe.add_argument("--new-only", action="store_true", help="only events published from now on")
    subscribe.set_defaults(func=_subscribe)
