"""What the docs promise stays true: the README's two commands, its links, the generated settings page, the API.

A newcomer reads the README first and runs its two commands on a fresh machine; the rest of the documentation is
under docs/, linked from it. These tests fail when a command, a link or the settings page drifts from the code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import correlate
from correlate import settings_doc

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "scripts/test"
MARKDOWN = sorted([*ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"), *ROOT.glob("deploy/**/*.md")])
# Written on another branch at the same time as this one: linked from here, checked like any other once present.
WRITTEN_ELSEWHERE = {ROOT / "docs" / "reliability.md"}


def _opening_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None, "README opens with a bash block"
    assert README.index(block.group(0)) < README.index("correlate finds"), "the commands come first"
    return [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]


def test_readme_opens_with_the_main_job_and_the_tests() -> None:
    commands = _opening_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert main_job == "python3 -m pip install -e '.[test]' && correlate demo"
    assert tests == TEST_COMMAND


def test_readme_is_a_front_door() -> None:
    lines = README.splitlines()
    assert len(lines) <= 150, f"README has {len(lines)} lines; move detail to docs/"
    for page in ("detection", "settings", "pipeline", "operations", "results", "reliability"):
        assert f"(docs/{page}.md" in README, f"README links docs/{page}.md"


PICTURE_BYTES = 300_000  # small enough for the README's first screen to load at once


def _pictures(text: str) -> list[str]:
    """The images a Markdown page shows, in order: ``![alt](path)`` and ``<img src="path">``."""
    found = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"", text)
    return [markdown or html for markdown, html in found]


def test_readme_first_shows_what_each_kind_of_user_sees() -> None:
    """Right after the two commands: the agent's, the NOC's and a vendor's picture, each a small PNG that a test
    takes (the test names the docs/ file it is copied to)."""
    first_screen = README[: README.index("correlate finds")]
    shown = _pictures(first_screen)
    assert len(shown) == 3, shown
    takers = [path.read_text(encoding="utf-8") for path in (ROOT / "tests").glob("test_*.py")]
    for picture in _pictures(README):
        path = ROOT / picture
        assert path.is_file(), f"README shows {picture}, which is not there"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{picture} is a PNG"
        assert path.stat().st_size < PICTURE_BYTES, f"{picture}: {path.stat().st_size} bytes"
        assert any("save_screenshot" in source and picture in source for source in takers), f"no test takes {picture}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci.splitlines()


def test_the_test_command_provides_what_the_tests_drive() -> None:
    """The binaries the tests start must come from the test command itself, not from a step only CI knows."""
    script = ROOT / TEST_COMMAND
    assert os.access(script, os.X_OK), f"{TEST_COMMAND} is executable"
    text = script.read_text(encoding="utf-8")
    for package in ("chromium", "chromium-driver", "prometheus", "redis-server"):
        assert re.search(rf"missing\+=\({re.escape(package)}\)", text), f"{TEST_COMMAND} installs {package}"
    assert "CORRELATE_TEST_REDIS" in text
    commands = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == 'python3 -m pytest "$@"', "pytest runs last, so its exit code is the script's"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(match) for match in re.findall(r"^#+ (.+)$", text, re.M)}


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    for link in _links(page):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if target in WRITTEN_ELSEWHERE and not target.exists():
            continue
        assert target.exists(), f"{page.relative_to(ROOT)}: {link} points nowhere"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"{page.relative_to(ROOT)}: {link}: no such heading"


HISTORY = [
    r"\b(this|last|next|previous) stop\b",
    r"\bstop \d+\b",
    r"\bstop before last\b",
    r"\bissue #?\d+\b",
    r"\d[%x]?\s*(->|→)\s*\d",  # a figure before -> after
    r"\bpython-native\b",
    r"\bkind of machine\b",
]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(ROOT)))
def test_docs_describe_the_system_not_its_history(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for pattern in HISTORY:
        found = re.search(pattern, text, re.I)
        assert found is None, f"{page.relative_to(ROOT)}: {found.group(0)!r}: development history belongs in git"


def test_settings_page_is_generated_from_the_declarations() -> None:
    committed = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert committed == settings_doc.render(), f"docs/settings.md is stale; regenerate it: {settings_doc.COMMAND}"


def test_every_setting_is_on_the_settings_page() -> None:
    from correlate.streams.settings import StackSettings

    page = settings_doc.render()
    for declared in (correlate.Settings, StackSettings):
        for name in declared.__dataclass_fields__:
            assert f"| `{name}` |" in page, name
            assert f"`CORRELATE_{name.upper()}`" in page, name


def test_a_setting_without_its_meaning_cannot_be_published() -> None:
    @dataclass(frozen=True)
    class Undocumented:
        documented: int = field(default=1, metadata={"doc": "Has a meaning."})
        silent: int = 2

    with pytest.raises(ValueError, match="silent"):
        settings_doc.settings_table(list(Undocumented.__dataclass_fields__.values()))


def test_defaults_are_written_as_in_the_settings_file() -> None:
    assert [settings_doc.format_default(v) for v in (60.0, 0.05, (900.0, 3600.0), None, True, "aiokafka")] == [
        "60",
        "0.05",
        "[900, 3600]",
        "none",
        "true",
        '"aiokafka"',
    ]


def test_public_api_is_complete_and_importable() -> None:
    for name in correlate.__all__:
        assert getattr(correlate, name) is not None
    assert sorted(correlate.__all__) == correlate.__all__
