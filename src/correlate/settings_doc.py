"""docs/settings.md, written from the settings' own declarations.

Each setting is declared once, with its default and a ``doc`` in its field's metadata
(:class:`correlate.config.Settings`, :class:`correlate.streams.settings.StackSettings`). The reference page is
generated from them so that it cannot drift: ``tests/test_docs.py`` fails when the committed page differs from
what this module writes, and prints the command that regenerates it::

    python3 -m correlate.settings_doc > docs/settings.md
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import MISSING, Field, fields
from typing import Any

from correlate.config import Settings
from correlate.streams.settings import StackSettings

__all__ = ["COMMAND", "format_default", "main", "render", "settings_table"]

COMMAND = "python3 -m correlate.settings_doc > docs/settings.md"

_INTRO = """\
# Settings

<!-- Generated from the declarations in src/correlate/config.py and src/correlate/streams/settings.py:
     do not edit; run `{command}` -->

Every setting has a default. A settings file, TOML or JSON (`--config FILE`, or `-c`), may set any of them by
name, and `CORRELATE_<NAME>` in the environment overrides the file: a number, `true`/`false` or a JSON list
(`[900, 3600]`); a comma-separated list also for `dimensions` and `input_topics`; plain text for `broker`,
`store` and the other names. An unknown name is an error at start-up, not a silent no-op.

## Detection

At the top level of the settings file. Times are seconds of event time.

{detection}

A vendor registry may sit in the same file: who owns which values, so that incidents name vendors rather than
values. With none, every `device_brand` and `service` value is its own vendor (`FlixCo` is `flixco`).

```toml
owned_dimensions = ["device_brand", "service"]
[vendors]
rokit = {{ device_brand = ["Rokit", "Rokit Stick"] }}
flixco = {{ service = ["FlixCo"] }}
```

## Where the pipeline runs

In the `[stack]` table of the settings file (`correlate up`, `worker`, `status`, `produce`, `subscribe`).
Times are wall-clock seconds. They say where the pipeline runs, not what it finds: the same stream gives the
same incidents whatever the broker or the partition count.

{stack}

## Vendor delivery

How each vendor hears of its incidents (its Kafka topic, a signed webhook, or both) is set per vendor in
`[delivery.<vendor>]` tables, read by `correlate api`: see [Operations](operations.md#vendor-webhooks).
"""


def format_default(value: Any) -> str:
    """A default as it would be written in the settings file (TOML), or ``none`` for an unset one."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_default(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _default(setting: Field[Any]) -> Any:
    if setting.default is not MISSING:
        return setting.default
    if setting.default_factory is not MISSING:
        return setting.default_factory()
    raise ValueError(f"{setting.name}: a setting without a default cannot be documented as optional")


def settings_table(declared: Sequence[Field[Any]]) -> str:
    """One Markdown row per setting: name, default, environment variable, meaning."""
    rows = ["| setting | default | environment | meaning |", "|---|---|---|---|"]
    for setting in declared:
        doc = setting.metadata.get("doc")
        if not doc:
            raise ValueError(f"{setting.name}: declared without a doc in its field's metadata")
        meaning = " ".join(str(doc).split()).replace("|", "\\|")
        default = format_default(_default(setting))
        rows.append(f"| `{setting.name}` | `{default}` | `CORRELATE_{setting.name.upper()}` | {meaning} |")
    return "\n".join(rows)


def render() -> str:
    """The whole of docs/settings.md."""
    return _INTRO.format(
        command=COMMAND,
        detection=settings_table(fields(Settings)),
        stack=settings_table(fields(StackSettings)),
    )


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
