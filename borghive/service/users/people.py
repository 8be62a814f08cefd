"""People who own keys and repositories."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from peewee import IntegrityError, fn

from borghive.errors import ConflictError, NotFoundError
from borghive.rules.channels import check_email
from borghive.rules.names import check_name
from borghive.rules.times import aware
from borghive.store import rows, write_transaction
from borghive.store.models import Repository, SshKey, User


@dataclass(frozen=True)
class UserInfo:
    name: str
    email: str | None
    realert_interval: int
    alert_expiration: int
    created: dt.datetime
    key_count: int
    repository_count: int


def find_user(name: str) -> User:
    """The User row called ``name``; raise NotFoundError."""
    check_name(name, "user")
    user: User | None = User.get_or_none(User.name == name)
    if user is None:
        raise NotFoundError(f"user {name!r} not found", hint="see 'borghive user list'")
    return user


def _info(user: User, key_count: int, repository_count: int) -> UserInfo:
    return UserInfo(
        name=user.name,
        email=user.email,
        realert_interval=user.realert_interval,
        alert_expiration=user.alert_expiration,
        created=aware(user.created),
        key_count=key_count,
        repository_count=repository_count,
    )


def add_user(
    name: str,
    email: str | None = None,
    realert_interval: int | None = None,
    alert_expiration: int | None = None,
) -> UserInfo:
    """Create a user; raise InvalidInputError or ConflictError (name taken)."""
    check_name(name, "user")
    if email is not None:
        check_email(email)
    values: dict[str, object] = {"name": name, "email": email}
    if realert_interval is not None:
        values["realert_interval"] = realert_interval
    if alert_expiration is not None:
        values["alert_expiration"] = alert_expiration
    try:
        with write_transaction():
            if User.get_or_none(User.name == name) is not None:
                raise ConflictError(f"user {name!r} already exists")
            user = User.create(**values)
    except IntegrityError:
        raise ConflictError(f"user {name!r} already exists") from None
    return _info(user, 0, 0)


def list_users() -> list[UserInfo]:
    """Every user with key and repository counts, by name."""
    keys: dict[int, int] = dict(
        rows(SshKey.select(SshKey.owner, fn.COUNT(SshKey.id)).group_by(SshKey.owner))
    )
    repos: dict[int, int] = dict(
        rows(
            Repository.select(Repository.owner, fn.COUNT(Repository.id)).group_by(Repository.owner)
        )
    )
    return [
        _info(user, keys.get(user.id, 0), repos.get(user.id, 0))
        for user in User.select().order_by(User.name)
    ]


def get_user(name: str) -> UserInfo:
    """One user; raise NotFoundError."""
    user = find_user(name)
    return _info(user, _keys_of(user).count(), _repositories_of(user).count())


def _keys_of(user: User) -> Any:
    return SshKey.select().where(SshKey.owner == user.id).order_by(SshKey.name)


def _repositories_of(user: User) -> Any:
    return Repository.select().where(Repository.owner == user.id).order_by(Repository.name)


def set_user(
    name: str,
    *,
    email: str | None = None,
    clear_email: bool = False,
    realert_interval: int | None = None,
    alert_expiration: int | None = None,
) -> UserInfo:
    """Change a user's e-mail or alert preferences; only the given values change."""
    if email is not None:
        check_email(email)
    with write_transaction():
        user = find_user(name)
        if email is not None:
            user.email = email
        if clear_email:
            user.email = None
        if realert_interval is not None:
            user.realert_interval = realert_interval
        if alert_expiration is not None:
            user.alert_expiration = alert_expiration
        user.save()
    return get_user(name)


def remove_user(name: str) -> None:
    """Delete a user who owns nothing; raise ConflictError naming what they still own."""
    with write_transaction():
        user = find_user(name)
        repos = [f"{name}/{r.name}" for r in _repositories_of(user)]
        keys = [f"{name}/{k.name}" for k in _keys_of(user)]
        if repos or keys:
            owned = []
            if repos:
                owned.append("repositories " + ", ".join(_first(repos)))
            if keys:
                owned.append("keys " + ", ".join(_first(keys)))
            raise ConflictError(
                f"user {name!r} still owns {'; '.join(owned)}",
                hint="delete the repositories and remove the keys first",
            )
        user.delete_instance()


def _first(items: list[str], limit: int = 10) -> list[str]:
    return items if len(items) <= limit else [*items[:limit], f"... ({len(items)} in all)"]
