"""`uvelka users add|passwd|role|list`: the user store of the web page and OPC UA
(`<data_dir>/web/users.json`, web.users) from the command line, for a headless install
(issue #14). A running gateway reads the file again at the next login."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from gateway.config import load_config
from web.users import FIRST_ADMIN, Role, UserError, UserStore


def add_users_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser(
        "users", help="the users of the web page and OPC UA: add, passwd, role, list"
    )
    users.add_argument("-c", "--config", type=Path, required=True, help="the gateway TOML file")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    roles = [role.value for role in Role]
    add = actions.add_parser(
        "add",
        help="add a user (the password is asked for, or read "
        "from standard input when it is not a terminal)",
    )
    add.add_argument("name")
    add.add_argument("--role", choices=roles, required=True)
    passwd = actions.add_parser("passwd", help="give a user a new password")
    passwd.add_argument("name")
    role = actions.add_parser("role", help="give a user another role")
    role.add_argument("name")
    role.add_argument("role", choices=roles)
    actions.add_parser("list", help="every user with role, created and changed")
    users.set_defaults(handler=run_users)


def run_users(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # a ConfigError is uvelka's to print (exit 2)
    try:
        return asyncio.run(_run(args, config.gateway.data_dir / "web"))
    except (UserError, ValueError, OSError) as exc:
        print(f"uvelka users: {exc}")
        return 1


async def _run(args: argparse.Namespace, folder: Path) -> int:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    store, generated = await UserStore.open(folder)
    if generated is not None:
        print(
            f"uvelka users: created {folder / 'users.json'} with user {FIRST_ADMIN}, "
            f"password {generated} (shown only now)"
        )
    if args.users_command == "list":
        for user in store.all():
            print(
                f"{user.name}\t{user.role}\tcreated {user.created:%Y-%m-%d %H:%M}\t"
                f"changed {user.changed:%Y-%m-%d %H:%M}"
            )
    elif args.users_command == "add":
        await store.add(args.name, Role(args.role), _password())
        print(f"user {args.name!r} added with role {args.role}")
    elif args.users_command == "passwd":
        await store.set_password(args.name, _password())
        print(f"user {args.name!r}: password changed")
    else:
        await store.set_role(args.name, Role(args.role))
        print(f"user {args.name!r}: role {args.role}")
    return 0


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ: nothing was changed")
    return first
