"""`uvelka web rotate-key -c FILE`: a new session key for the web page (issue #14).

Every session cookie was encrypted with the old key, so every user must log in again; a
running gateway takes the new key at its next request (web.sessions follows the file), no
restart or signal needed. Meant for a key that may have leaked, or on a schedule.

The web stack is imported when the command runs, not by every `uvelka` (`uvelka run`
without [web] imports none of it: issue #10).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import load_config


def add_web_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `web rotate-key` to the CLI's subcommands; handler: `args.handler`."""
    web = commands.add_parser("web", help="the web page's keys")
    actions = web.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate-key",
        help="replace the session key: every user is logged out, at once also on a running "
        "gateway",
    )
    rotate.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")
    rotate.set_defaults(handler=_rotate)


def _rotate(args: argparse.Namespace) -> int:
    from gateway.page.site import WEB_FOLDER  # noqa: PLC0415 (the web stack: see above)
    from web.sessions import rotate_key  # noqa: PLC0415

    folder = load_config(args.config).gateway.data_dir / WEB_FOLDER
    try:
        path = rotate_key(folder)
    except OSError as exc:
        print(f"uvelka: cannot write a new session key in {folder}: {exc}", file=sys.stderr)
        return 1
    print(f"uvelka: new session key {path}: every session has ended (a running gateway "
          "takes it at its next request)")
    return 0
