"""One exception root: what correlate raises on purpose is a CorrelateError, and reaches the user as one line."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import pytest

import correlate
from correlate import errors
from correlate.cli import main
from correlate.contracts import parse_timestamp
from correlate.errors import ContractError, CorrelateError, StoreError
from correlate.streams.publish import PublishedLog
from sample_events import incident_event, notification

SOURCE = Path(correlate.__file__).parent


def _modules() -> list[str]:
    return [info.name for info in pkgutil.walk_packages(correlate.__path__, "correlate.")]


def test_every_exception_correlate_defines_descends_from_the_root() -> None:
    defined = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                defined.append(value)
    assert len(defined) >= len(errors.__all__)  # the walk saw the tree
    strays = [f"{kind.__module__}.{kind.__qualname__}" for kind in defined if not issubclass(kind, CorrelateError)]
    assert strays == []


def test_no_module_imports_another_module_s_private_name() -> None:
    private = []
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("correlate"):
                private += [f"{path.name}: {a.name}" for a in node.names if re.match(r"_[^_]", a.name)]
    assert private == []


def test_every_catch_all_is_a_crash_guard_that_says_so() -> None:
    unmarked = []
    for path in SOURCE.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.ExceptHandler):
                continue
            caught = node.type.id if isinstance(node.type, ast.Name) else None if node.type is None else "named"
            if caught in (None, "Exception", "BaseException") and "crash guard" not in lines[node.lineno - 1]:
                unmarked.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert unmarked == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-03-02", "is not an RFC 3339 date-time"),
        ("2026-02-30T00:00:00Z", "names a day that does not exist"),
        ("2026-03-02T00:00:00", "has no zone"),
        (1e12, "outside 1970..2200"),
        (float("nan"), "outside 1970..2200"),
        (True, "not a boolean"),
        (None, "not null"),
        ([1], "not array"),
        ({"at": 1}, "not object"),
    ],
)
def test_parse_timestamp_refuses_with_the_public_contract_error(value: object, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        parse_timestamp(value)
    assert refused.value.field == "ts" and reason in refused.value.reason
    assert str(refused.value) == f"ts: {refused.value.reason}"


def test_a_bad_time_in_evaluate_s_input_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.jsonl"
    truth.write_text(json.dumps({"fault_id": "f1", "kind": "rate", "start": "2026-03-02", "scope": {}}) + "\n")
    incidents = tmp_path / "incidents.jsonl"
    incidents.write_text("")
    assert main(["evaluate", str(truth), str(incidents), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("correlate evaluate: bad time '2026-03-02': \"2026-03-02\" is not an RFC 3339 date-time")
    assert "Traceback" not in said and said.count("\n") == 1


def test_a_bad_start_for_simulate_names_the_flag_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--start", "2026-03-02T00:00:00"])
    said = capsys.readouterr().err
    assert "argument --start: \"2026-03-02T00:00:00\" has no zone; add 'Z'" in said


def test_a_settings_file_that_cannot_be_read_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text("")
    latin1 = tmp_path / "settings.toml"
    latin1.write_bytes("# réglages\nstep = 60\n".encode("latin-1"))
    assert main(["replay", str(contacts), "-c", str(latin1), "-q"]) == 2
    assert (
        capsys.readouterr().err == f"correlate replay: {latin1}: not UTF-8 text (invalid continuation byte at byte 3)\n"
    )
    missing = tmp_path / "nowhere.toml"
    assert main(["replay", str(contacts), "-c", str(missing), "-q"]) == 2
    assert capsys.readouterr().err == f"correlate replay: {missing}: cannot be read (No such file or directory)\n"


def test_a_token_key_too_short_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "api-keys").mkdir()
    (tmp_path / "api-keys" / "k1").write_text("short\n")
    assert main(["token", "--role", "agent", "--home", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err
        == f"correlate token: {tmp_path / 'api-keys' / 'k1'}: key too short (at least 32 characters)\n"
    )


def test_a_notice_with_a_bad_time_on_the_topics_is_skipped_when_a_leader_rebuilds() -> None:
    good = notification("d1").to_json()
    bad = {**notification("d2").to_json(), "at": "yesterday"}
    values = [json.dumps(bad).encode(), json.dumps(good).encode()]
    log = PublishedLog()
    log.note_notifications(values)
    assert log.notified == {"d1"}


def test_a_value_that_is_not_an_object_on_the_incidents_topic_is_skipped_when_a_leader_rebuilds() -> None:
    opened = incident_event("opened", "i1").to_json()
    log = PublishedLog.from_values([b"[1]", b'"opened"', json.dumps(opened).encode()])
    assert list(log.last) == ["i1"]


def test_the_api_answers_every_kind_of_store_refusal_with_its_own_status() -> None:
    from correlate.api.app import store_status

    kinds = [kind for kind in vars(errors).values() if isinstance(kind, type) and issubclass(kind, StoreError)]
    statuses = {kind.__name__: store_status(kind("no")) for kind in kinds if kind is not StoreError}
    assert statuses == {"InvalidRequest": 400, "NotFound": 404, "StateConflict": 409, "Mismatch": 422}
