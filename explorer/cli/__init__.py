"""The `explorer` command: one sub-command per module in this package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from explorer import __version__
from explorer.errors import ExplorerError

app = typer.Typer(
    name="explorer",
    help="skip-explorer: train skip-resilient ResNets, explore which blocks to skip, deploy one adaptive model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"skip-explorer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


# Each module registers its command(s) on `app`.
from explorer.cli import demo, deploy, evaluate, imports, report, runtime, search, train, worker  # noqa: E402,F401

invoked_args: list[str] = []  # the arguments of this invocation (search --workers re-runs them in children)


def _usage_errors() -> tuple[type, ...]:
    """Click's errors about the command line (unknown option, bad value): click's own class, and the
    copy that typer ≥ 0.29 vendors as typer._click (not a subclass of click's, so both are needed)."""
    base = getattr(typer, "TyperException", None)  # absent before typer 0.29
    kinds = [k for k in base.__subclasses__() if hasattr(k, "show")] if base else []
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:  # typer ≥ 0.29 no longer needs click installed
        pass
    return tuple(kinds)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: user errors print one line, without a traceback, and exit 2."""
    try:
        invoked_args[:] = sys.argv[1:] if argv is None else list(argv)
        code = app(args=argv, standalone_mode=False)
    except ExplorerError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as e:
        if isinstance(e, _usage_errors()):
            e.show()
            sys.exit(e.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)  # typer.Exit(code) from a command (standalone_mode=False returns it)
