"""`hereabouts user`, `member`, `token` and `device add/revoke`: accounts of the live server."""

# no `from __future__ import annotations`: Typer reads the annotations of the commands defined in
# register(), which name objects imported there

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from .._db import Database
from ..accounts import Accounts
from ..model.errors import InputError


def _read_password(confirm: bool) -> str:
    """The password from stdin: prompted (twice) on a terminal, else the first line of the input."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if confirm and getpass.getpass("again: ") != first:
            raise InputError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        raise InputError(
            "no password on stdin", hint="pipe it in: `printf '%s\\n' \"$PW\" | hereabouts user add NAME`"
        )
    return line.rstrip("\r\n")


def register(app: typer.Typer) -> None:
    """Add the account commands to ``app``."""
    from ..cli import JsonOpt, _open, _table, device_app, dumps, out

    user_app = typer.Typer(
        help="Users of the live server (each with a personal workspace).", no_args_is_help=True
    )
    member_app = typer.Typer(help="Members of a workspace and their roles.", no_args_is_help=True)
    token_app = typer.Typer(help="API tokens for the REST API.", no_args_is_help=True)
    app.add_typer(user_app, name="user")
    app.add_typer(member_app, name="member")
    app.add_typer(token_app, name="token")

    def accounts(db: Database) -> Accounts:
        return Accounts(db.store)

    @user_app.command("add")
    def user_add(
        name: Annotated[str, typer.Argument(help="User name (also their workspace's name).")],
    ) -> None:
        """Add a user; the password is read from stdin (prompted twice on a terminal)."""
        password = _read_password(confirm=True)
        with _open() as db:
            accounts(db).add_user(name, password)
        out.print(f"user {name!r} added, owner of workspace {name!r}")

    @user_app.command("list")
    def user_list(as_json: JsonOpt = False) -> None:
        """List users."""
        with _open() as db:
            names = accounts(db).users()
        if as_json:
            print(dumps(names))
        else:
            _table("users", [{"user": n} for n in names])

    @member_app.command("set")
    def member_set(
        workspace: Annotated[str, typer.Argument(help="Workspace name.")],
        user: Annotated[str, typer.Argument(help="User name.")],
        role: Annotated[str, typer.Argument(help="viewer, analyst, owner, or 'none' to remove.")],
    ) -> None:
        """Give a user a role in a workspace (or remove them with 'none')."""
        with _open() as db:
            accounts(db).set_member(workspace, user, None if role == "none" else role)
        out.print(f"{user!r} in {workspace!r}: {role}")

    @member_app.command("list")
    def member_list(workspace: Annotated[str, typer.Argument()], as_json: JsonOpt = False) -> None:
        """List the members of a workspace."""
        with _open() as db:
            rows = accounts(db).members(workspace)
        if as_json:
            print(dumps(rows))
        else:
            _table(f"members of {workspace}", rows)

    @token_app.command("add")
    def token_add(
        user: Annotated[str, typer.Argument(help="User the token acts as.")],
        label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
        days: Annotated[
            int | None, typer.Option(help="Expire after this many days (default: never).")
        ] = None,
    ) -> None:
        """Make an API token for a user (printed once; keep it secret)."""
        expires = datetime.now(UTC) + timedelta(days=days) if days else None
        with _open() as db:
            token = accounts(db).add_api_token(user, label=label, expires=expires)
        print(token)

    @device_app.command("add")
    def device_add(
        user: Annotated[str, typer.Argument(help="The owner: the device is stored as USER/DEVICE.")],
        device: Annotated[str, typer.Argument(help="Device name, e.g. phone.")],
        workspace: Annotated[str | None, typer.Option(help="Workspace (default: the user's own).")] = None,
    ) -> None:
        """Register a device and print its ingest token once (the server keeps only a hash)."""
        with _open() as db:
            token, full = accounts(db).add_device(user, device, workspace=workspace)
        sys.stderr.write(f"device {full!r} added; its ingest token (shown once):\n")
        print(token)

    @device_app.command("revoke")
    def device_revoke(device: Annotated[str, typer.Argument(help="Full device name, USER/DEVICE.")]) -> None:
        """Revoke a device's ingest token (its data stays)."""
        with _open() as db:
            done = accounts(db).revoke_device(device)
        if not done:
            raise InputError(f"device {device!r} has no live ingest token")
        out.print(f"ingest token of {device!r} revoked")
