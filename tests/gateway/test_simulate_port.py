"""`uvelka simulate --port P` with P taken says why it cannot listen (issue #14)."""

from __future__ import annotations

import socket

import pytest

from gateway.__main__ import main


def test_a_port_in_use_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["simulate", "--host", "127.0.0.1", "--port", str(port)]) == 1

    # Before: "uvelka: PUMP-01: cannot listen on 127.0.0.1:<port>", and no reason.
    assert capsys.readouterr().err.splitlines() == [
        f"uvelka: PUMP-01: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
