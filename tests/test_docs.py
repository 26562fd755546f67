"""What the README promises stays true: its two commands, its settings table, the public API."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import correlate
from correlate.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _opening_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None, "README opens with a bash block"
    assert README.index(block.group(0)) < README.index("correlate finds"), "the commands come first"
    return [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]


def test_readme_opens_with_the_main_job_and_the_tests() -> None:
    main_job, tests = _opening_commands()
    assert main_job.endswith("correlate demo")
    assert tests.endswith("python3 -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _opening_commands()[1].split("&&")[-1].strip()
    assert test_command in ci.splitlines()


def test_every_setting_is_documented_in_the_readme() -> None:
    for setting in fields(Settings):
        assert f"| `{setting.name}` |" in README, setting.name


def test_public_api_is_complete_and_importable() -> None:
    for name in correlate.__all__:
        assert getattr(correlate, name) is not None
    assert sorted(correlate.__all__) == correlate.__all__
