"""An alarm from a simulated device reaches a real SMTP server (aiosmtpd) from `uvelka run`,
and a gateway killed with SIGKILL while its e-mail waits loses nothing and sends it once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from drivers.base import Table
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.smtp import SmtpServer
from tests.gateway.test_model_sigterm import uvelka_run

START_S = 60.0  # a loaded 2-core machine: imports and the OPC UA server
# Two starts of the gateway on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(240)


def _config(device: PymodbusServer, smtp_port: int, data_dir: Path) -> str:
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
page_url = "https://gw.plant.example"

[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "Uvelka <uvelka@plant.example>"
timeout = 5.0

[[email.recipients]]
address = "crew@plant.example"

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


def _queued(data_dir: Path) -> int:
    """Messages in the e-mail outbox file, as a reader of it sees them (0 before it exists)."""
    path = data_dir / "notify" / "email.sqlite"
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
