"""The ``efp`` command line (docs/contracts.md, "CLI contract").

Each command group lives in its own module and registers itself on the root app, so the
groups stay small and independent.
"""

from __future__ import annotations

import typer

from ray_apps.cli import (audit_commands, data_commands, demo_command, model_commands, monitoring_commands, serve_commands,
                          train_command)

app = typer.Typer(
    name="efp",
    help="Energy Forecast Platform: electricity demand forecasts for Indian cities on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@app.callback()
def _every_command() -> None:
    """Before each command: the audit log names the OS user for keys, promotions and rollbacks."""
    from data.stores.audit import set_actor

    set_actor(audit_commands.cli_actor())


for module in (data_commands, train_command, model_commands, serve_commands, monitoring_commands, audit_commands, demo_command):
    module.register(app)


def main() -> None:
    from data.log_masking import install_log_masking

    install_log_masking()  # before any command logs; commands that start Ray or a service add the settings' secrets
    app()


if __name__ == "__main__":
    main()
