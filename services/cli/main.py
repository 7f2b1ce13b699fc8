"""The `aifactory` command: run the embedded factory, the demo, and talk to a running gateway."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from services.cli import admin_commands, audit_command, job_commands, key_commands, status_command
from services.cli.rebuild_command import invoice_rebuild
from services.cli.sim_command import sim
from services.cli.up_command import DataDir, down, up
from services.cli.wait_command import wait

app = typer.Typer(help="aifactory: a governed, metered GPU platform.", no_args_is_help=True)
app.command("up")(up)
app.command("down")(down)
app.command("wait")(wait)
app.command("sim")(sim)
app.command("invoice-rebuild")(invoice_rebuild)
job_commands.register(app)
admin_commands.register(app)
key_commands.register(app)
status_command.register(app)
audit_command.register(app)
console = Console()


@app.command()
def demo(data_dir: DataDir = Path(".aifactory/demo")) -> None:
    """Bring a fresh factory up, run two tenants' jobs through it, print their invoices, stop."""
    from services.cli.demo import run_demo

    run_demo(data_dir, console)


if __name__ == "__main__":
    app()
