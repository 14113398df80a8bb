"""`creditbook events list`, `alerts show|set` and `webhooks listen`, in both modes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

from tests.cli.conftest import Mode

from creditbook.client import webhooks

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_alerts_then_events_of_a_crossing(mode: Mode, acme: str) -> None:
    alerts = mode.json("alerts", "set", acme, "--credits", "30", "--percent", "50")
    assert alerts["source"] == "account"
    assert [r.get("credits") or r.get("percent") for r in alerts["rules"]] == [30, 50]
    mode.ok("charge", acme, "80")  # 100 -> 20: below 50 (50% of 100) and below 30
    shown = mode.json("alerts", "show", acme)
    assert shown["pools"][0]["available"] == 20
    assert sorted(shown["pools"][0]["low"]) == [30, 50]
    events = mode.json("events", "list", acme)["data"]
    assert [e["type"] for e in events] == ["balance.low", "balance.low"]
    assert {Decimal(str(e["data"]["threshold"])) for e in events} == {30, 50}
    people = mode.ok("events", "list", acme).stdout
    assert "below 30: 20 left" in people and "below 50: 20 left" in people
    only = mode.json("events", "list", "--type", "credits.granted", acme)["data"]
    assert only == []
    back = mode.json("alerts", "set", acme, "--plan-defaults")
    assert back["source"] == "plan" and back["rules"] == []


def test_bad_alert_input_exits_2_and_changes_nothing(mode: Mode, acme: str) -> None:
    for args in (
        ("--credits", "lots"),
        ("--percent", "120"),
        ("--plan-defaults", "--credits", "1"),
    ):
        result = mode.run("alerts", "set", acme, *args)
        assert result.exit_code == 2, result.stderr
    assert mode.json("alerts", "show", acme)["rules"] == []
    assert mode.json("events", "list", acme)["data"] == []


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append((body, dict(self.headers.items())))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_listen_prints_and_forwards_signed_events(mode: Mode, acme: str) -> None:
    mode.ok("grant", acme, "5")
    mode.ok("charge", acme, "104")  # 1 credit left
    assert mode.run("charge", acme, "2").exit_code == 4  # refused: the pool is depleted
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
        listened = subprocess.run(
            [
                sys.executable,
                "-c",
                "from creditbook.cli import app; app()",
                "webhooks",
                "listen",
                *mode.args,
                "--account",
                acme,
                "--forward-to",
                url,
                "--secret",
                SECRET,
                "--backlog",
                "2",
                "--max-events",
                "2",
            ],
            env={**os.environ, **mode.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert listened.returncode == 0, listened.stderr
    assert "credits.granted" in listened.stdout and "balance.depleted" in listened.stdout
    assert listened.stdout.count("/hooks 204") == 2
    events = [webhooks.verify(body, headers, SECRET) for body, headers in Receiver.received]
    assert [event.type for event in events] == ["credits.granted", "balance.depleted"]
    assert events[1].data["requested"] == 2
