"""`mh serve` and `mh api token`."""

from __future__ import annotations

import ipaddress

import typer

from ..errors import MhError
from .common import call_skill, console, err_console, get_runtime

app = typer.Typer(help="The localhost API's bearer token.", no_args_is_help=True)


@app.command()
def token(ctx: typer.Context) -> None:
    """Create (or rotate) the API token. It is printed once; only its sha256 is stored.
    A change like any other: refused at `observe` (exit 3), nothing written."""
    result = call_skill(ctx, "api_token_rotate", {})
    console.print(result["token"], markup=False)
    err_console.print("store it now: it is not shown again; requests send `Authorization: Bearer <token>`")


def serve(
    ctx: typer.Context,
    port: int = typer.Option(8765, "--port", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="Only loopback unless --allow-remote is given too."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Permit a non-loopback --host (you are exposing your home)."),
) -> None:
    """Serve the API (Litestar under uvicorn). Every request needs the bearer token (`mh api token`)
    and a Host of localhost, 127.0.0.1 or [::1]; the OpenAPI schema is at /schema/openapi.json."""
    import uvicorn

    from ..api.app import create_app
    from ..api_token import token_file

    runtime = get_runtime(ctx)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise MhError(f"refusing to listen on {host}: only loopback addresses are served by default",
                      fix="use --host 127.0.0.1, or add --allow-remote if you really mean to expose it")
    if not loopback:
        err_console.print(f"[bold yellow]warning:[/] serving on {host}: anyone who can reach it and has the token controls this home")
    if not token_file(runtime.home).exists():
        err_console.print("no API token yet: run `mh api token` (every request will be refused until then)")
    extra = frozenset({host}) if not loopback else frozenset()
    runtime.audit.append("api", "serve", details={"host": host, "port": port, "source": "cli"}, actor="person")
    uvicorn.run(create_app(runtime, extra_hosts=extra), host=host, port=port, log_level="warning", server_header=False)


def register(root: typer.Typer) -> None:
    root.command()(serve)
    root.add_typer(app, name="api")
