"""``geo-enforce user``: users, roles and API tokens (add, token, revoke, list, role, retire)."""

from __future__ import annotations

import typer
from rich.table import Table

from geo_enforce.cli.common import actor, app, console, out, sessions, settings
from geo_enforce.settings import ROLES

user_app = typer.Typer(help="Users, roles (viewer < liaison < editor < admin) and API tokens.")
app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="login name, e.g. wang.li"),
    role: str = typer.Option("viewer", "--role", "-r", help=f"one of {', '.join(ROLES)}"),
    display_name: str | None = typer.Option(None, "--display-name", help="姓名 shown in the UI"),
    token: bool = typer.Option(False, "--token", help="also issue a token and print it once"),
) -> None:
    """Create a user with a role."""
    from geo_enforce.access import auth
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        user = auth.create_user(session, name, role, display_name)
        plain = None
        if token:
            plain, _ = auth.issue_token(session, name, ttl_days=settings().auth.token_ttl_days)
    console.print(f"user '{user.name}' created with role {user.role}")
    if plain:
        console.print("token (shown once, store it now):")
        out.print(plain, highlight=False)


@user_app.command("token")
def token(
    name: str = typer.Argument(..., help="login name"),
    days: int | None = typer.Option(None, "--days", help="validity; default from settings"),
    label: str | None = typer.Option(None, "--label", help="what the token is for, e.g. tablet-3"),
) -> None:
    """Issue an API token for a user and print it once (only its hash is stored)."""
    from geo_enforce.access import auth
    from geo_enforce.storage.engine import transaction

    ttl = days if days is not None else settings().auth.token_ttl_days
    if ttl <= 0:
        raise typer.BadParameter("--days must be positive")
    with transaction(sessions(), actor()) as session:
        plain, tok = auth.issue_token(session, name, ttl_days=ttl, label=label)
    console.print(f"token {tok.id} for '{name}' valid until {tok.expires_at:%Y-%m-%d %H:%M %Z}")
    out.print(plain, highlight=False)


@user_app.command("revoke")
def revoke(
    target: str = typer.Argument(..., help="a token id, or a user name with --all"),
    all_tokens: bool = typer.Option(False, "--all", help="revoke every token of the user"),
    reason: str = typer.Option("revoked", "--reason", help="why (kept in the audit log)"),
) -> None:
    """Revoke a token (by id) or all tokens of a user (``--all``). Tokens are retired, not
    deleted."""
    from geo_enforce.access import auth
    from geo_enforce.errors import InvalidInput
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        if all_tokens:
            n = auth.revoke_user_tokens(session, target, actor=actor())
            msg = f"{n} token(s) of '{target}' revoked"
        else:
            if not target.isdigit():
                raise InvalidInput(
                    f"'{target}' is not a token id; see 'geo-enforce user list --tokens', or "
                    "pass --all to revoke every token of a user"
                )
            auth.revoke_token(session, int(target), actor=actor(), reason=reason)
            msg = f"token {target} revoked"
    console.print(msg)


@user_app.command("role")
def role(
    name: str = typer.Argument(..., help="login name"),
    new_role: str = typer.Argument(..., help=f"one of {', '.join(ROLES)}"),
) -> None:
    """Change a user's role."""
    from geo_enforce.access import auth
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        user = auth.set_role(session, name, new_role)
    console.print(f"'{user.name}' is now {user.role}")


@user_app.command("retire")
def retire(
    name: str = typer.Argument(..., help="login name"),
    reason: str = typer.Option(..., "--reason", help="why (kept in the audit log)"),
) -> None:
    """Retire a user (never deleted) and revoke all their tokens."""
    from geo_enforce.access import auth
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        n = auth.retire_user(session, name, actor=actor(), reason=reason)
    console.print(f"user '{name}' retired, {n} token(s) revoked")


@user_app.command("grant")
def grant(
    name: str = typer.Argument(..., help="login name"),
    codes: list[str] = typer.Argument(..., help="town codes (乡镇/街道), e.g. 120111100"),
) -> None:
    """Scope a user to townships: they see and write only those townships' records (a user of
    a deployment with several townships needs one; admins without any see all)."""
    from geo_enforce.access import townships
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        for code in codes:
            townships.grant(session, name, code, actor=actor())
        now = townships.townships_of(session, name)
    console.print(f"'{name}' works on township(s) {', '.join(now)}")


@user_app.command("ungrant")
def ungrant(
    name: str = typer.Argument(..., help="login name"),
    code: str = typer.Argument(..., help="town code"),
    reason: str = typer.Option("revoked", "--reason", help="why (kept in the audit log)"),
) -> None:
    """Take a township from a user (the grant is retired, never deleted)."""
    from geo_enforce.access import townships
    from geo_enforce.storage.engine import transaction

    with transaction(sessions(), actor()) as session:
        townships.revoke(session, name, code, actor=actor(), reason=reason)
        now = townships.townships_of(session, name)
    console.print(f"'{name}' works on township(s) {', '.join(now) or '(none granted)'}")


@user_app.command("list")
def list_(
    tokens: bool = typer.Option(False, "--tokens", help="list live tokens instead of users"),
    include_retired: bool = typer.Option(False, "--retired", help="include retired users"),
) -> None:
    """List users (or live tokens, never their values)."""
    from geo_enforce.access import auth, townships

    with sessions()() as session:
        granted = townships.grants(session)
        if tokens:
            table = Table("id", "user", "label", "expires", "created")
            for tok, user_name in auth.list_tokens(session):
                table.add_row(
                    str(tok.id),
                    user_name,
                    tok.label or "",
                    f"{tok.expires_at:%Y-%m-%d}",
                    f"{tok.created_at:%Y-%m-%d}",
                )
        else:
            table = Table("name", "role", "display name", "townships", "version", "retired")
            for u in auth.list_users(session, include_retired=include_retired):
                table.add_row(
                    u.name,
                    u.role,
                    u.display_name or "",
                    ", ".join(granted.get(u.name, [])),
                    str(u.version),
                    f"{u.retired_at:%Y-%m-%d}" if u.retired_at else "",
                )
    out.print(table)
