"""[history]: on by default, and its documented example is valid."""

from __future__ import annotations

from gateway.config.model import GatewayConfig, HistorySection
from tests.gateway.config import test_docs


def test_history_is_on_by_default_and_the_documented_example_is_valid() -> None:
    assert GatewayConfig().history == HistorySection()
    assert HistorySection().enabled
    example = next(block for block in test_docs.fenced("toml") if block.startswith("[history]"))
    config, problems = test_docs.validate_text(example, "history.toml")
    assert problems == []
    assert config is not None
    assert (config.history.retention, config.history.flush_interval) == (30 * 86400.0, 5.0)
