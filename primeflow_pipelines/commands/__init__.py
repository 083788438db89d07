"""The ``primeflow`` command line: one module per command group.

Commands parse options, call ``primeflow_lib`` and print; no library logic lives here. Commands
that only read or compute call ``primeflow_lib`` directly; ``demo`` drives real Dagster runs on
the instance in ``DAGSTER_HOME`` (so they show up in the UI afterwards). Imports of heavy
libraries stay inside the commands so ``primeflow --help`` starts fast.
"""

from __future__ import annotations

import click

from primeflow_pipelines.commands.backtest import backtest
from primeflow_pipelines.commands.cache import cache
from primeflow_pipelines.commands.checks import check_real
from primeflow_pipelines.commands.demo import demo
from primeflow_pipelines.commands.desk import desk
from primeflow_pipelines.commands.fetch import fetch
from primeflow_pipelines.commands.gex import gex
from primeflow_pipelines.commands.imports import import_group
from primeflow_pipelines.commands.live import feed, inbox
from primeflow_pipelines.commands.models import model
from primeflow_pipelines.commands.rl import rl
from primeflow_pipelines.commands.rules import rules
from primeflow_pipelines.commands.scale import scale
from primeflow_pipelines.commands.stream import stream
from primeflow_pipelines.commands.tape import tape
from primeflow_pipelines.commands.tune import tune
from primeflow_pipelines.commands.warehouse import docs, publish, query


class PrimeflowGroup(click.Group):
    """The ``primeflow`` group: an error no command expected still ends in one line naming its
    type and message (redacted), never a traceback; ``PRIMEFLOW_DEBUG=1`` shows the traceback.
    Commands turn the errors they know into the library's typed messages themselves; this is
    the net under them (``tests/test_cli_no_tracebacks.py`` fails on any error that reaches it)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the net: one line instead of a traceback
            import os

            from primeflow_lib.redact import shorten

            if os.environ.get("PRIMEFLOW_DEBUG"):
                raise
            raise click.ClickException(
                f"{INTERNAL_ERROR}: {type(exc).__name__}: {shorten(exc, 500)} (a bug in PrimeFlow: "
                "please report it; PRIMEFLOW_DEBUG=1 shows the traceback)") from None


#: the words that start the message of an error no command expected
INTERNAL_ERROR = "internal error"


@click.group(cls=PrimeflowGroup)
@click.version_option(package_name="primeflow")
def main() -> None:
    """PrimeFlow: options-flow intelligence and strategy research on Dagster + DuckDB."""


for _command in (query, publish, docs, cache, feed, inbox, demo, backtest, tune, fetch, model, rl, import_group,
                 gex, check_real, scale, tape, rules, desk, stream):
    main.add_command(_command)
