"""`mh worker train BUNDLE --out DIR`: the remote side of `mh train --remote`, the one entrypoint
the rented machine runs (and the tests run locally in a subprocess)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The remote side of `mh train --remote`: what the rented machine runs.", no_args_is_help=True)


@app.command("train")
def train(
    bundle: Path = typer.Argument(..., exists=True, file_okay=False, help="The bundle `mh train --remote` uploaded."),
    out: Path = typer.Option(..., "--out", file_okay=False, help="Where the run goes (a new or empty folder); run again to resume."),
    key_id: str = typer.Option(..., "--key-id", help="The home's signing key id (from the task's run line, not the bundle)."),
    quiet: bool = typer.Option(False, "--quiet"),
) -> None:
    """Check the bundle (manifest, signed receipt, base), train its run into OUT, write the run's
    sha256 manifest. Exit codes are the run's (0, 10, 11, 12, 30); 1 when the bundle is refused."""
    from ..worker import train_bundle

    raise typer.Exit(train_bundle(bundle, out.resolve(), key_id=key_id, quiet=quiet))
