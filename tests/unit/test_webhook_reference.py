"""The webhook reference's examples have exactly the keys the messages send, event by
event, so the documented bodies cannot drift from the code."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from borghive.service.alerts import client_messages as words
from borghive.service.alerts.client import ClientFacts, ReportSummary
from borghive.service.alerts.deletion_messages import (
    DeletionTrouble,
    acknowledged_message,
    deletion_message,
)
from borghive.service.alerts.messages import RepoFacts, stale_message
from borghive.service.history.deletions import Deletion, StoredTransaction

REFERENCE = Path(__file__).parents[2] / "docs" / "reference" / "webhook.md"
NOW = dt.datetime(2026, 2, 1, 2, 14, 30, tzinfo=dt.UTC)


def documented() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", REFERENCE.read_text(), re.DOTALL)
    return [json.loads(block) for block in blocks]


def made() -> list[tuple[str, str | None, dict[str, Any]]]:
    facts = RepoFacts("alice", "laptop", "ssh://u@h:22/./laptop", NOW, NOW, 86400, None, None, None)
    run = ReportSummary(NOW, "start", "r", None, None, None)
    failure = ReportSummary(NOW, "fail", "r", 2, 1.0, None)
    client = ClientFacts(NOW, NOW, NOW, failure, "log", False, run)
    expires = NOW + dt.timedelta(days=5)
    bodies = [
        words.failed_message(facts, client, failure, NOW, 3600, expires).data,
        words.timeout_message(facts, client, run, NOW, 3600, 3600, expires).data,
        words.client_recovered_message(facts, client, "client-failed", NOW, NOW).data,
        words.stale_report_message(facts, client, ("last_update",), NOW, NOW, 3600, expires).data,
        words.stale_report_recovered_message(facts, client, NOW, NOW).data,
        stale_message(facts, NOW, 3600, expires).data,
    ]
    return [(b["event"], b.get("alert"), dict(b)) for b in bodies]


def test_every_example_has_the_keys_of_its_event() -> None:
    examples = {(e["event"], e.get("alert")): set(e) for e in documented()}
    for event, alert, body in made():
        assert examples[(event, alert)] == set(body), (event, alert)


def test_the_deletion_examples_have_the_keys_of_their_events() -> None:
    facts = RepoFacts("alice", "laptop", "ssh://u@h:22/./laptop", NOW, NOW, 86400, None, None, None)
    transaction = StoredTransaction(1, 7, NOW, 1, 40, "client", "laptop", None, True, None)
    trouble = DeletionTrouble(NOW, "transaction 7", (Deletion(transaction, 50, ("share",)),), 6)
    bodies = [
        deletion_message(facts, trouble, NOW, 3600, NOW + dt.timedelta(days=5)).data,
        acknowledged_message(facts, NOW, "transaction 7", NOW).data,
    ]
    examples = {e["event"]: e for e in documented()}
    for body in bodies:
        example = examples[body["event"]]
        assert set(example) == set(body), body["event"]
        assert set(example["deletion"]) == set(body["deletion"]), body["event"]
    [named] = examples["deletion"]["deletion"]["transactions"]
    assert set(named) == set(bodies[0]["deletion"]["transactions"][0])


def test_every_key_of_the_client_bodies_is_in_a_table() -> None:
    tabled = set(re.findall(r"^\| `([a-z_]+)` \|", REFERENCE.read_text(), re.MULTILINE))
    for _, _, body in made():
        assert set(body) <= tabled
