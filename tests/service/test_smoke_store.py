from borghive.config import Config
from borghive.service import users


def test_add_and_list_user(store: Config) -> None:
    users.add_user("alice", "alice@example.org")
    assert [u.name for u in users.list_users()] == ["alice"]
