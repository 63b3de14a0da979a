"""The ``datacoral`` command group, and the one place errors become exit codes."""

from __future__ import annotations

from typing import Any

import click

from datacoral import __version__
from datacoral.cli import environments, events, keys, load, quickstart, serve, snippet, tokens
from datacoral.cli.config import config
from datacoral.cli.context import DB_ENVVAR, db_option, server_options
from datacoral.cli.database import storage_error
from datacoral.cli.entry import missing_optional_module
from datacoral.cli.errors import CLIError, MissingExtra, StorageFailure
from datacoral.storage.base import AdminError, StorageError, StorageUnavailable, StorageUnusable


class DatacoralGroup(click.Group):
    """Turns the errors of the layers below into :class:`CLIError` with its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except AdminError as exc:
            raise CLIError(str(exc)) from exc
        except StorageUnavailable as exc:
            # Commands open the database with open_store, which names the file; this
            # is the fallback for a failure outside it.
            raise storage_error(exc, None) from exc
        except StorageUnusable as exc:
            raise CLIError(str(exc)) from exc
        except StorageError as exc:
            raise StorageFailure(str(exc)) from exc
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
        except ImportError as exc:
            module = missing_optional_module(exc)
            if module is None:
                raise
            raise MissingExtra(module) from exc


@click.group(cls=DatacoralGroup, context_settings={"help_option_names": ["-h", "--help"]})
@db_option(envvar=DB_ENVVAR)
@server_options
@click.version_option(__version__, prog_name="datacoral")
def cli(db: object, server: str | None, token: str | None) -> None:
    """Run and administer the Datacoral Events endpoint.

    Start with `datacoral quickstart`; then `datacoral serve`.
    """


cli.add_command(serve.serve)
cli.add_command(quickstart.quickstart)
cli.add_command(environments.env)
cli.add_command(keys.key)
cli.add_command(tokens.token)
cli.add_command(events.events)
cli.add_command(snippet.snippet)
cli.add_command(load.load)
cli.add_command(config)
