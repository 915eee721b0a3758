"""`uvelka run` in a child process ends promptly on SIGTERM even while a hostile model is
being checked or is stuck scoring (issue #17)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from analytics.model_file import write_atomically
from tests.fixtures.assets import CENTRE, serve_values
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.model_files import endless_loop

REPO = Path(__file__).resolve().parents[2]
INPUTS = ("flow", "pressure")
START_S = 60.0  # a loaded 2-core machine: imports, onnxruntime, the OPC UA server
EXIT_S = 5.0  # less than the model check's 10 s time limit: SIGTERM must not wait for it
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def config_text(server: PymodbusServer, models_dir: Path, data_dir: Path) -> str:
    tags = "\n".join(
        f'[[devices.tags]]\nname = "{name}"\ntable = "holding"\naddress = {2 * i}\n'
        f'type = "float32"\n'
        for i, name in enumerate(CENTRE)
    )
    inputs = ", ".join(f'{signal} = "pump1.{signal}"' for signal in INPUTS)
    return f"""
[gateway]
name = "plant"
data_dir = "{data_dir}"

[opcua]
endpoint = "opc.tcp://127.0.0.1:0/uvelka"
namespace = "urn:uvelka:test"
security = ["None"]
anonymous = true

[analytics]
models_dir = "{models_dir}"
reload_interval = 0.2

[[devices]]
name = "pump1"
url = "{server.url}"
poll_interval = 0.05
timeout = 0.3
{tags}
[[assets]]
name = "pump1"
anomaly = "pump.onnx"
interval = 0.05
inputs = {{ {inputs} }}
"""


class Uvelka:
    """`uvelka run` as a child process, its log in a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(START_S):
                while not condition():
                    if self.process.returncode is not None:
                        pytest.fail(f"uvelka exited ({self.process.returncode}) waiting for "
                                    f"{what}:\n{self.log.read_text()}")
                    await asyncio.sleep(0.05)  # polling the process for a condition
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}:\n{self.log.read_text()}")

    def serving(self) -> bool:
        return "serving 1 devices" in self.log.read_text()

    def children(self) -> list[int]:
        return [pid for pid in _pids() if _stat(pid)[1] == self.process.pid]

    def threads(self) -> dict[int, int]:
        """CPU ticks used so far by each thread but the main one."""
        pid = self.process.pid
        return {
            tid: _stat(pid, tid)[0]
            for tid in (int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir())
            if tid != pid
        }

    def busy(self, before: dict[int, int]) -> bool:
        """A child process runs (a model check), or a thread other than the main one has
        used a second of CPU since `before` (a model stuck in an inference)."""
        if self.children():
            return True
        return any(ticks - before.get(tid, 0) >= TICKS_PER_S
                   for tid, ticks in self.threads().items())


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int, tid: int | None = None) -> tuple[int, int]:
    """CPU ticks (user + system) and parent pid of a process or one of its threads;
    (0, 0) once it is gone (reaped)."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        text = Path(path).read_text()
    except OSError:
        return 0, 0
    # The command name in parentheses may hold spaces: split after it.
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12]), int(fields[1])


@asynccontextmanager
async def uvelka_run(config: Path, log: Path) -> AsyncIterator[Uvelka]:
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "run", "-c", str(config),
            cwd=REPO, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )
    try:
        yield Uvelka(process, log)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def ends_on_sigterm(uvelka: Uvelka) -> None:
    """SIGTERM: the process exits 0 within EXIT_S, and leaves no child behind."""
    children = uvelka.children()
    uvelka.process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(EXIT_S):
            code = await uvelka.process.wait()
    except TimeoutError:
        pytest.fail(f"uvelka still runs {EXIT_S:g} s after SIGTERM:\n{uvelka.log.read_text()}")
    assert code == 0, uvelka.log.read_text()
    assert [pid for pid in children if _stat(pid) != (0, 0)] == []


async def test_sigterm_ends_the_process_while_an_endless_model_is_checked(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    config = tmp_path / "gateway.toml"
    config.write_text(config_text(modbus_tcp_server, models_dir, tmp_path / "var"))
    async with uvelka_run(config, tmp_path / "uvelka.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway to serve")
        idle = uvelka.threads()

        write_atomically(models_dir / "pump.onnx", endless_loop(INPUTS))  # hot reload takes it

        await uvelka.until(lambda: uvelka.busy(idle), "the endless model's check")
        await ends_on_sigterm(uvelka)


async def test_sigterm_ends_the_process_while_a_model_is_stuck_scoring(
    modbus_tcp_server: PymodbusServer, tmp_path: Path
) -> None:
    """A model that passes the check (its smoke window's features are small) and loops
    without end on the plant's values (flow around 50)."""
    serve_values(modbus_tcp_server)
    models_dir = tmp_path / "models"
    write_atomically(models_dir / "pump.onnx", endless_loop(INPUTS, above=20.0))
    config = tmp_path / "gateway.toml"
    config.write_text(config_text(modbus_tcp_server, models_dir, tmp_path / "var"))
    async with uvelka_run(config, tmp_path / "uvelka.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway to serve")
        idle = uvelka.threads()
        await uvelka.until(lambda: uvelka.busy(idle), "a thread stuck in the model")
        await ends_on_sigterm(uvelka)
