"""``primeflow rules``: validate, list, try and store the alert rules, and show what they sent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from primeflow_pipelines.commands.options import parse_date


def _cfg():
    from primeflow_lib.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _spec(text_or_file: str) -> dict:
    import yaml

    try:
        is_file = not text_or_file.lstrip().startswith("{") and Path(text_or_file).is_file()
    except OSError:  # text too long or odd to be a path
        is_file = False
    text = Path(text_or_file).read_text() if is_file else text_or_file
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not YAML or JSON: {exc}", param_hint="RULE") from None
    if not isinstance(spec, dict):
        raise click.BadParameter("a rule is a mapping with name, when and channel", param_hint="RULE")
    return spec


def _table(df) -> str:
    from tabulate import tabulate

    return tabulate(df, headers="keys", tablefmt="github", showindex=False, floatfmt=",.6g")


@click.group()
def rules() -> None:
    """Alert rules: built-in kind routing, alerts.rules in config, rules saved on the workbench."""


@rules.command("validate")
@click.option("--no-env", is_flag=True, help="Skip checking that each channel's secret variable is set.")
def validate_cmd(no_env: bool) -> None:
    """Validate every rule (config and saved) and, unless --no-env, that the channels the
    enabled rules use have their secrets set. Exit status 1 lists every problem."""
    from primeflow_lib.alerts.rules import RuleError, all_rules, check_rule_secrets, stored_rules
    from primeflow_lib.warehouse import connect, read_copy_path

    cfg = _cfg()
    problems: list[str] = []
    stored = []
    if read_copy_path().is_file():
        try:
            with connect(read_copy_path(), read_only=True) as con:
                has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'live' "
                                  "AND table_name = 'alert_rules'").fetchone()[0]
                if has:
                    stored = stored_rules(con.execute("SELECT name, rule_json, enabled FROM live.alert_rules").df())
        except RuleError as exc:
            problems.append(str(exc))
    try:
        found = all_rules(cfg, stored)
    except RuleError as exc:
        problems += str(exc).split("; ")
        found = []
    if found and not no_env:
        problems += check_rule_secrets(cfg, found)
    for r in found:
        click.echo(f"ok  {r.name:<24} {r.source:<9} on {r.applies_to:<6} -> {r.channel}"
                   f"{'' if r.enabled else '  (disabled)'}")
    if problems:
        for p in problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(1)
    click.echo(f"{len(found)} rules valid ({cfg['source']})")


@rules.command("list")
def list_cmd() -> None:
    """Every rule with its source, conditions, channel, cooldown and cap."""
    from primeflow_lib.alerts.rules import RuleError
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        click.echo(_table(dv.rules_frame(dv.rules(_cfg()))))
    except (RuleError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None


@rules.command("try")
@click.argument("rule")
@click.option("--day", required=True, help="A stored session (YYYY-MM-DD).")
def try_cmd(rule: str, day: str) -> None:
    """What RULE (a YAML/JSON file or text, not saved) would record on a stored session, by
    the daily path's evaluation.

    Example: primeflow rules try '{name: big, applies_to: order, when: {premium: {gte: 5e6}}, channel: console}' --day 2026-12-04
    """
    from primeflow_lib.alerts.rules import RuleError
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    d = parse_date(day, "--day")
    try:
        hits = dv.rule_preview(_spec(rule), d, _cfg())
    except (RuleError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    if hits.empty:
        click.echo(f"no hits on {d}")
        return
    click.echo(_table(hits[["ts", "ticker", "kind", "row_id", "channel", "outcome", "premium", "days_to_earnings"]]))
    counts = hits["outcome"].value_counts().to_dict()
    click.echo(f"{len(hits)} hits on {d}: {json.dumps(counts)}")


@rules.command("save")
@click.argument("rule")
def save_cmd(rule: str) -> None:
    """Store RULE (YAML/JSON file or text) in the warehouse, as the workbench does (validated:
    unique name, known channel with its secret set)."""
    from primeflow_lib.alerts.rules import RuleError
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        r = dv.save_rule(_spec(rule), _cfg())
    except (RuleError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"saved rule {r.name!r} (on {r.applies_to} -> {r.channel})")


@rules.command("delete")
@click.argument("name")
def delete_cmd(name: str) -> None:
    """Delete a rule saved in the warehouse."""
    from primeflow_lib.workbench import desk_views as dv

    if not dv.delete_rule(name):
        raise click.ClickException(f"no saved rule {name!r} (rules in config.yaml are edited there)")
    click.echo(f"deleted rule {name!r}")


@rules.command("hits")
@click.option("--day", default=None, help="Session (YYYY-MM-DD).")
@click.option("--rule", "rule_name", default=None, help="One rule.")
@click.option("--max-rows", default=40, show_default=True)
def hits_cmd(day: str | None, rule_name: str | None, max_rows: int) -> None:
    """Rule hits recorded by the daily (flow.rule_alerts) and near-live (live.rule_alerts) paths."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    d = parse_date(day, "--day")
    try:
        df = dv.rule_hits(d, rule_name)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if df.empty:
        click.echo("no rule hits recorded")
        return
    cols = ["path", "trade_date", "ts", "rule", "ticker", "kind", "channel", "outcome", "premium", "alert_key"]
    click.echo(_table(df[cols].head(max_rows)))
    summary = df.groupby(["path", "rule", "outcome"]).size().rename("hits").reset_index()
    click.echo("")
    click.echo(_table(summary))
