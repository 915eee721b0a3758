"""Golden cases: each broken file in cases/ with the exact lines `uvelka check-config` prints."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config import ConfigError, GatewayConfig, check_file, load_config, validate_text

CASES = Path(__file__).parent / "cases"
NAMES = sorted(path.stem for path in CASES.glob("*.toml"))
# The cases with warnings only: check-config exits 0 and the gateway loads them.
WARNINGS_ONLY = {"one_based_warning", "overlap_warning"}


def test_every_case_has_its_expected_output() -> None:
    expected = sorted(path.stem for path in CASES.glob("*.expected"))
    assert expected == NAMES
    assert len(NAMES) >= 15


@pytest.mark.parametrize("name", NAMES)
def test_case(name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(CASES)  # the file name is printed as given: relative here
    path = Path(f"{name}.toml")
    expected = (CASES / f"{name}.expected").read_text(encoding="utf-8").splitlines()

    problems = check_file(path)

    assert [str(problem) for problem in problems] == expected
    has_errors = any(problem.is_error for problem in problems)
    assert has_errors == (name not in WARNINGS_ONLY)
    # The web page validates text it holds in memory: same validator, same lines.
    assert validate_text(path.read_text(encoding="utf-8"), path.name)[1] == problems
    if has_errors:
        with pytest.raises(ConfigError) as error:
            load_config(path)
        assert error.value.problems == problems
        assert str(error.value).splitlines() == expected
    else:
        with caplog.at_level(logging.WARNING, logger="gateway.config"):
            config = load_config(path)
        assert isinstance(config, GatewayConfig)
        assert config.devices
        assert [record.getMessage() for record in caplog.records] == expected
