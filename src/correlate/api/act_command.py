"""``correlate incident ack|resolve|dismiss|note|deny ID``: a person's action from the command line.

It goes through the running API like the console's buttons (so it is role-checked, audited and sent to the
detector the same way): the API is found through ``<home>/api.json`` (or ``--api``), and the token is made from
the API's signing keys for the role and name given (default: the NOC, as ``$USER``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Final

from correlate.api.access import Claims, default_home, keys_path, load_keys, mint

__all__ = ["VERBS", "add_parser"]

# The command's short words, and the action each is.
VERBS: Final = {"ack": "acknowledge", "resolve": "resolve", "dismiss": "dismiss", "note": "note", "deny": "deny"}


def _act(args: argparse.Namespace) -> int:
    from correlate.api.serve import read_state

    home = Path(args.home) if args.home else default_home()
    url = args.api
    if url is None:
        state = read_state(home)
        if state is None:
            print(
                f"correlate incident: no API runs from {home} (start `correlate api`, or give --api URL)",
                file=sys.stderr,
            )
            return 2
        url = str(state["url"])
    claims = Claims(args.role, vendor=args.vendor, name=args.name or os.environ.get("USER"), issued_at=time.time())
    body: dict[str, str] = {"action": VERBS[args.verb]}
    if args.reason:
        body["reason"] = args.reason
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/incidents/{args.incident_id}/actions",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + _token(home, args.keys, claims), "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as refused:
        print(f"correlate incident {args.verb}: {json.loads(refused.read()).get('error')}", file=sys.stderr)
        return 1
    print(f"{answer['action']} {args.incident_id} as {answer['by']} ({answer['role']}): {answer['status']}")
    return 0


def _token(home: Path, keys: str | None, claims: Claims) -> str:
    """A short-lived token for this one request, signed with the API's keys (``--keys``, as ``correlate token``)."""
    directory, may_create = keys_path(home, keys)
    return mint(load_keys(directory, create=may_create), claims, ttl=300.0)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "incident",
        help="act on an incident: ack, resolve, dismiss, note, deny",
        description="Acknowledge, resolve, dismiss, note or deny an incident through the running API; it becomes "
        "an event on the incident. A reason is needed for all but ack.",
    )
    parser.add_argument("verb", choices=sorted(VERBS))
    parser.add_argument("incident_id")
    parser.add_argument("--reason", "-m", help="why (required for all but ack)")
    parser.add_argument("--role", default="noc", choices=("noc", "agent", "vendor"), help="acting as (default noc)")
    parser.add_argument("--vendor", help="the vendor id, with --role vendor")
    parser.add_argument("--name", help="who you are (default $USER)")
    parser.add_argument("--home", help="the API's home (default $CORRELATE_HOME or ~/.correlate)")
    parser.add_argument("--api", help="the API's URL (default: from <home>/api.json)")
    parser.add_argument(
        "--keys", help="the API's signing keys directory (default $CORRELATE_API_KEYS or <home>/api-keys)"
    )
    parser.set_defaults(func=_act)
