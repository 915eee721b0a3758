"""`uvelka check-config` and `uvelka run` on files the TOML parser cannot read (issue #17):
one line naming the file, the exit code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.__main__ import main

CASES = Path(__file__).parent / "cases"
UNREADABLE = ("deep_nesting", "huge_integer")


@pytest.mark.parametrize("name", UNREADABLE)
def test_check_config_prints_one_line_and_exits_1(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CASES)

    code = main(["check-config", f"{name}.toml"])

    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == (CASES / f"{name}.expected").read_text().splitlines()
    assert len(out.splitlines()) == 1
    assert err == ""


@pytest.mark.parametrize("name", UNREADABLE)
def test_run_refuses_the_file_in_one_line(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CASES)

    code = main(["run", "-c", f"{name}.toml"])

    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == (CASES / f"{name}.expected").read_text().splitlines()
    assert out == ""


def test_a_deeply_nested_value_is_one_line_in_a_fresh_process(tmp_path: Path) -> None:
    # Nested just short of what tomllib can parse from the command line's shallow stack:
    # the problem's "(got ...)" used to recurse as deep again and fail there.
    depth = 480
    file = tmp_path / "gateway.toml"
    file.write_text(f"[gateway]\nname = {'[' * depth}1{']' * depth}\n", encoding="utf-8")

    done = subprocess.run(  # noqa: S603 - our own CLI, with a file the test wrote
        [sys.executable, "-m", "gateway", "check-config", str(file)],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.stderr == ""
    assert done.stdout == f"{file}: gateway.name: expected a string (got [[[...]]])\n"
    assert done.returncode == 1
