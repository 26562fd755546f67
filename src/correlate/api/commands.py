"""Command-line parsers of the people-facing edge: ``correlate api`` and ``correlate token``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from correlate.api.access import (
    DEFAULT_TTL,
    ROLES,
    AccessError,
    Claims,
    default_home,
    keys_path,
    load_keys,
    mint,
    parse_ttl,
)
from correlate.config import ConfigError, load_config
from correlate.extras import require
from correlate.pool import MAX_CONNECTIONS, POOL_TIMEOUT
from correlate.streams.embedded import LOOPBACK

__all__ = ["add_parsers"]


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home) if args.home else default_home()


def _api(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfoNotFoundError

    store_url = args.store or os.environ.get("CORRELATE_STORE") or None
    # aiokafka even without --broker: the API's feed and notification modules are built on it.
    require("api", *([] if store_url else ["local"]), "api", "store", "kafka")
    from correlate.api.serve import ApiOptions, run, zone
    from correlate.notify.delivery import parse_delivery

    config = load_config(args.config)
    try:
        agents_zone = zone(args.zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--zone: {args.zone!r} is not a time zone name (e.g. Europe/Lisbon)") from None
    options = ApiOptions(
        home=_home(args),
        port=args.port,
        store_url=store_url,
        broker=args.broker or os.environ.get("CORRELATE_BROKER") or None,
        targets=parse_delivery(config.section("delivery")),
        zone=agents_zone,
        topic_prefix=args.topic_prefix,
        access_log=args.access_log,
        host=args.host,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        store_connections=args.store_connections,
        store_wait=args.store_wait,
        console_frame_ancestors=tuple(args.console_frame_ancestor),
        keys_dir=args.keys,
    )
    return run(options)


def _token(args: argparse.Namespace) -> int:
    if args.revoke is not None:
        from correlate.api.tokens import revoke_command

        return revoke_command(args.revoke, _home(args), args.store)
    if args.role is None:
        raise AccessError("give --role agent|noc|vendor (or --revoke TOKEN_OR_ID)")
    claims = Claims(args.role, vendor=args.vendor, name=args.name)
    ttl = parse_ttl(args.ttl) if args.ttl else DEFAULT_TTL
    keys_dir, may_create = keys_path(_home(args), args.keys)
    token = mint(load_keys(keys_dir, create=may_create), claims, ttl=ttl)
    print(token)
    return 0


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from correlate.api import act_command

    act_command.add_parser(subparsers)
    api = subparsers.add_parser(
        "api",
        help="serve the incident API, the agent console and vendor webhooks",
        description="HTTP API on 127.0.0.1 (banner, journeys, follow-ups, incidents), fed from the incidents and "
        "contacts.accepted topics; sends vendor webhooks and customer notifications. Writes <home>/api.json.",
    )
    api.add_argument("--broker", help="Kafka bootstrap servers (default $CORRELATE_BROKER; none: no feed)")
    api.add_argument("--store", help="Redis URL (default $CORRELATE_STORE; none: a Redis of its own in <home>)")
    api.add_argument("--port", type=int, default=8480, help="port (default 8480; 0: any free port)")
    api.add_argument(
        "--host", default=LOOPBACK, help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)"
    )
    api.add_argument("--metrics-port", type=int, help="also serve /metrics on this port (the API serves it too)")
    api.add_argument("--metrics-host", default=LOOPBACK, help="address of the metrics port (default 127.0.0.1)")
    api.add_argument("--home", help="state directory (default $CORRELATE_HOME or ~/.correlate)")
    api.add_argument("--config", "-c", help="settings file with [delivery.<vendor>] tables")
    api.add_argument("--zone", help="agents' time zone for banner times, e.g. Europe/Lisbon (default UTC)")
    api.add_argument("--access-log", action="store_true", help="log a line per request (default off)")
    api.add_argument(
        "--store-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help=f"Redis connections shared by requests (default {MAX_CONNECTIONS})",
    )
    api.add_argument(
        "--store-wait",
        type=float,
        default=POOL_TIMEOUT,
        help=f"seconds a request waits for a free connection before a 503 (default {POOL_TIMEOUT:g})",
    )
    api.add_argument(
        "--console-frame-ancestor",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin that may frame the console (an agent desktop embedding the banner); repeatable",
    )
    api.add_argument(
        "--keys",
        help="directory of token signing keys, one file per key id (default $CORRELATE_API_KEYS or <home>/api-keys)",
    )
    api.add_argument("--topic-prefix", default="", help=argparse.SUPPRESS)
    api.set_defaults(func=_api)

    token = subparsers.add_parser(
        "token",
        help="mint a bearer token for the API",
        description="Prints a JWT signed with the newest key of --keys (default $CORRELATE_API_KEYS, else "
        "<home>/api-keys, made on first use); it expires after --ttl. Treat it as a password. --revoke refuses one "
        "token (by the token or its id, the JWT's jti) on every API sharing the store.",
    )
    token.add_argument("--role", choices=ROLES)
    token.add_argument("--vendor", help="the vendor id, with --role vendor")
    token.add_argument("--name", help="who the bearer is (recorded as the one who attaches, assigns, escalates)")
    token.add_argument("--ttl", help="how long the token is valid: 90s, 15m, 12h, 30d (default 30d; at most 400d)")
    token.add_argument("--keys", help="directory of signing keys (default $CORRELATE_API_KEYS or <home>/api-keys)")
    token.add_argument("--revoke", metavar="TOKEN_OR_ID", help="revoke this token (or token id) instead of minting")
    token.add_argument("--store", help="with --revoke: Redis URL (default $CORRELATE_STORE, else the running API's)")
    token.add_argument("--home", help="state directory (default $CORRELATE_HOME or ~/.correlate)")
    token.set_defaults(func=_token)
