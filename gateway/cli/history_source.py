"""The gateway's history as the source of `uvelka train anomaly|rul` (issue #12): its
arguments, on the command line of every `uvelka`, and the way to the training.

The training (gateway.cli.history_training: numpy, the history export, the recipes) is
imported when such a command runs, not by `uvelka run` or any other command (issue #10).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from analytics.commands import reporting_errors


def add_history_source(anomaly: argparse.ArgumentParser, rul: argparse.ArgumentParser) -> None:
    """Give `train anomaly` and `train rul` the gateway's history as a source of data."""
    for parser in (anomaly, rul):
        group = parser.add_argument_group("from the gateway's own history (instead of --data)")
        group.add_argument(
            "--history",
            type=Path,
            metavar="DATA_DIR",
            help="the gateway's data_dir: train on the asset's recorded inputs",
        )
        group.add_argument("--asset", metavar="NAME", help="the asset to train for")
        group.add_argument(
            "-c",
            "--config",
            type=Path,
            metavar="FILE",
            help="the gateway's TOML file (the asset's inputs and interval)",
        )
        group.add_argument(
            "--from",
            dest="start",
            metavar="ISO",
            help="start of the range (default: the oldest history)",
        )
        group.add_argument(
            "--to",
            dest="end",
            metavar="ISO",
            help="end of the range, not included (default: the newest)",
        )
        group.add_argument(
            "--leave-out",
            action="append",
            default=[],
            metavar="FROM/TO",
            help="a range not to learn from (a fault, a test run); repeatable",
        )
        if parser is anomaly:
            group.add_argument(
                "--anomaly-range",
                action="append",
                default=[],
                metavar="FROM/TO",
                help="a range labelled anomaly: left out of a normal-only model, learnt"
                " from by --labels, and the truth of precision/recall; repeatable",
            )
        # The page's job: the running configuration, its progress and its bounds.
        for flag in ("--inputs", "--interval", "--memory-mib", "--cpu-s"):
            group.add_argument(flag, help=argparse.SUPPRESS)
        group.add_argument("--progress-json", action="store_true", help=argparse.SUPPRESS)
        parser.set_defaults(handler=partial(_dispatch, parser.get_default("handler")))


def _dispatch(plain: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    if args.history is None:
        return plain(args)
    from gateway.cli.history_training import train  # noqa: PLC0415 (numpy: see above)

    return reporting_errors(f"train {args.target}", lambda: train(args))
