"""An alarm from a simulated device reaches a real SMTP server (aiosmtpd) from `uvelka run`,
and a gateway killed with SIGKILL while its e-mail waits loses nothing and sends it once;
nor does one killed while events wait for their digest.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from drivers.base import Table
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.smtp import SmtpServer
from tests.gateway.test_model_sigterm import uvelka_run

START_S = 60.0  # a loaded 2-core machine: imports and the OPC UA server
# Two starts of the gateway on a loaded 2-core machine (and a digest's minute).
pytestmark = pytest.mark.timeout(300)


def _head(data_dir: Path, smtp_port: int, notify: str) -> str:
    """The gateway, its OPC UA server, `[notify]` with `notify`'s lines and `[email]` to
    crew@plant.example."""
    return f"""
[gateway]
name = "plant-1"
data_dir = "{data_dir}"

[opcua]
endpoint = "opc.tcp://127.0.0.1:0/uvelka"
security = ["None"]
anonymous = true

[notify]
language = "ru"
{notify}

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "Uvelka <uvelka@plant.example>"
timeout = 5.0

[[email.recipients]]
address = "crew@plant.example"
"""


def _config(device: PymodbusServer, smtp_port: int, data_dir: Path) -> str:
    head = _head(data_dir, smtp_port, 'page_url = "https://gw.plant.example"')
    return head + f"""
[[email.recipients]]
address = "chief@plant.example"
language = "en"
min_severity = 900

[[devices]]
name = "pump3"
url = "{device.url}"
poll_interval = 0.05

[[devices.tags]]
name = "pressure"
table = "holding"
address = 0
type = "uint16"
unit = "bar"

[[alarms]]
name = "pump3_pressure_high"
source = "pump3.pressure"
condition = "above"
limit = 60
severity = 700
message = "Давление на выходе выше нормы"
"""


def _digest_config(device: PymodbusServer, smtp_port: int, data_dir: Path) -> str:
    """One recipient who is sent one message alone a minute, three alarms."""
    alarms = "".join(f"""
[[devices.tags]]
name = "{tag}"
table = "holding"
address = {address}
type = "uint16"

[[alarms]]
name = "pump3_{tag}_high"
source = "pump3.{tag}"
condition = "above"
limit = 60
severity = 700
""" for address, tag in enumerate(TAGS))
    return _head(data_dir, smtp_port, "digest_after = 1") + f"""
[[devices]]
name = "pump3"
url = "{device.url}"
poll_interval = 0.05
{alarms}"""


TAGS = ("pressure", "temperature", "vibration")


def _queued(data_dir: Path, name: str = "email") -> int:
    """Messages in a notification outbox file (the e-mail channel's, or the events held for
    digests), as a reader of it sees them (0 before it exists)."""
    path = data_dir / "notify" / f"{name}.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except sqlite3.OperationalError:  # the table is being created
            return 0


async def test_a_killed_gateway_sends_its_queued_alarm_mail_once_after_restart(
    modbus_tcp_server: PymodbusServer, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "gateway.toml"
    config.write_text(_config(modbus_tcp_server, smtp_server.port, data_dir), encoding="utf-8")
    await smtp_server.stop()  # the mail server is down: the message must wait on disk
    modbus_tcp_server.set(Table.HOLDING, 0, [20])
    async with uvelka_run(config, tmp_path / "first.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway serving")
        modbus_tcp_server.set(Table.HOLDING, 0, [75])
        await uvelka.until(lambda: _queued(data_dir) == 1, "the alarm's e-mail queued")
        await uvelka.until(lambda: "email: cannot send" in uvelka.log.read_text(),
                           "a send tried and refused")
        uvelka.process.kill()  # SIGKILL: no shutdown, no flush
        await uvelka.process.wait()
    assert _queued(data_dir) == 1
    await smtp_server.start()
    async with uvelka_run(config, tmp_path / "second.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway serving again")
        received = await smtp_server.wait_for(1, START_S)
        await uvelka.until(lambda: _queued(data_dir) == 0, "the outbox emptied")
    assert len(smtp_server.inbox.messages) == 1
    (mail,) = received
    assert mail["To"] == "crew@plant.example"
    assert mail["Subject"] == "plant-1: Авария pump3_pressure_high на pump3"
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert "Что: Давление на выходе выше нормы" in text
    assert "Значение: 75 bar" in text
    assert "Уставка: 60 bar" in text
    assert "https://gw.plant.example/alarms" in text
    assert "Давление на выходе выше нормы" in html.get_content()


def _active(data_dir: Path) -> int:
    """Alarms active in the saved alarm states (0 before the file exists)."""
    path = data_dir / "alarms.json"
    if not path.exists():
        return 0
    states = json.loads(path.read_text(encoding="utf-8"))["alarms"]
    return sum(1 for state in states.values() if state["active"])


async def test_a_gateway_killed_while_events_wait_for_their_digest_sends_the_digest(
    modbus_tcp_server: PymodbusServer, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    config = tmp_path / "gateway.toml"
    config.write_text(_digest_config(modbus_tcp_server, smtp_server.port, data_dir),
                      encoding="utf-8")
    modbus_tcp_server.set(Table.HOLDING, 0, [20, 20, 20])
    async with uvelka_run(config, tmp_path / "first.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway serving")
        modbus_tcp_server.set(Table.HOLDING, 0, [75, 75, 75])
        (alone,) = await smtp_server.wait_for(1, START_S)
        # digest_after = 1: the other two wait for the digest, a minute after the first.
        await uvelka.until(lambda: _queued(data_dir, "held") == 2, "two events held")
        # The hub saved the three alarms active: a restart raises none of them again.
        await uvelka.until(lambda: _active(data_dir) == 3, "the alarm states saved")
        # The first mail's delivery recorded: a SIGKILL between the server's acceptance
        # and that would send it again (the outbox's one duplicate, not this test's).
        await uvelka.until(lambda: _queued(data_dir) == 0, "the first mail's row deleted")
        uvelka.process.kill()  # SIGKILL within the digest's minute
        await uvelka.process.wait()
    assert len(smtp_server.inbox.messages) == 1
    async with uvelka_run(config, tmp_path / "second.log") as uvelka:
        await uvelka.until(uvelka.serving, "the gateway serving again")
        received = await smtp_server.wait_for(2, 90.0)  # the rest of the minute
        await uvelka.until(lambda: _queued(data_dir, "held") == 0, "the held events deleted")
        assert "2 events held for digests before the restart restored" in (
            uvelka.log.read_text())
    subjects = [mail["Subject"] for mail in smtp_server.inbox.messages]
    assert len(subjects) == 2, subjects
    digest = received[1]
    assert digest["Subject"] == "plant-1: 2 события за короткое время"
    plain = digest.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    told = [tag for tag in TAGS if f"Авария pump3_{tag}_high" in text]
    assert len(told) == 2
    assert f"pump3_{told[0]}_high" not in alone["Subject"]
    assert f"pump3_{told[1]}_high" not in alone["Subject"]
