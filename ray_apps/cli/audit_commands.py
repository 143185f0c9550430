"""``efp audit list``: the audit log of admin actions (docs/contracts.md, "CLI contract")."""

from __future__ import annotations

import getpass
import os
from typing import Optional

import typer

from data.settings import get_settings
from ray_apps.cli.output import JsonOption, print_json, print_table, reports_errors

audit_app = typer.Typer(help="Audit log of admin actions (keys created/revoked, promotions, rollbacks).", no_args_is_help=True)
ACTIONS = ("key.create", "key.revoke", "model.promote", "model.rollback")


def cli_actor() -> str:
    """Who the audit log names for this command line: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (a bare container): the uid still says who
        return f"cli:uid{os.getuid()}"


@reports_errors
def audit_list(
    action: Optional[str] = typer.Option(None, "--action", help=f"Only this action: {', '.join(ACTIONS)}."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Admin actions newest first: [{time, actor, action, target, detail}]."""
    from data.stores.audit import open_audit

    if action is not None and action not in ACTIONS:
        raise typer.BadParameter(f"'{action}' is not one of {', '.join(ACTIONS)}", param_hint="--action")
    rows = [e.model_dump(mode="json") for e in open_audit(get_settings()).entries(limit=limit, action=action)]
    if as_json:
        print_json(rows)
    else:
        print_table("audit log", rows, ["time", "actor", "action", "target", "detail"])


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    audit_app.command("list")(audit_list)
    app.add_typer(audit_app, name="audit")
