"""Metric names in a PromQL expression, parsed loosely: enough to check them against the metric contract."""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]+?)\s*(?:,\s*\w+\s*)?\)")  # Grafana's: label_values(metric, label)
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf"}
)


def metric_names(expr: str) -> set[str]:
    """Every identifier that is not a function, keyword, label name or Grafana variable."""
    text = _LABEL_VALUES.sub(r"\1", _GRAFANA_VARIABLE.sub("1", expr))
    for pattern in (_STRING, _MATCHERS, _RANGE, _GROUPING):
        text = pattern.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in _KEYWORDS:
            continue
        if match.start() > 0 and (text[match.start() - 1].isdigit() or text[match.start() - 1] == "."):
            continue  # the exponent or unit of a number: 1e3, 5m
        names.add(match.group())
    return names
