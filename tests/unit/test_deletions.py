"""The deletion rules: which transactions alert (a share of the live objects estimated
from the history, anything through an append-only key), the ``transactions`` file's ids,
and what holds compaction back."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from borghive.service.history.deletions import (
    APPEND_ONLY,
    SHARE,
    StoredTransaction,
    compaction_hold,
    find_deletions,
    logged_transactions,
)

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
DAY = 86400


def _t(
    segment: int,
    puts: int,
    deletes: int = 0,
    *,
    made_by: str | None = "client",
    append_only: bool | None = None,
    acknowledged: dt.datetime | None = None,
    age: float = 1.0,
) -> StoredTransaction:
    return StoredTransaction(
        segment,
        segment,
        NOW - dt.timedelta(days=age),
        puts,
        deletes,
        made_by,
        "laptop",
        "192.0.2.7",
        append_only,
        acknowledged,
    )


def test_a_share_above_the_limit_alerts_and_below_does_not() -> None:
    history = [_t(1, 100), _t(2, 0, 10), _t(3, 0, 11)]
    [found] = find_deletions(history, 10)
    # 10 of 100 is not more than 10 %; 11 of the 90 left is.
    assert found.transaction.segment == 3 and found.reasons == (SHARE,)
    assert found.live == 90 and found.percent == 12
    assert "transaction 3 at" in found.describe() and "through key laptop" in found.describe()


def test_maintenance_is_left_out_of_the_estimate_and_never_alerts() -> None:
    # Compaction copies 1000 objects (puts) and writes deletes again: neither counts.
    history = [_t(1, 100), _t(2, 1000, 500, made_by="maintenance"), _t(3, 0, 20)]
    [found] = find_deletions(history, 10)
    assert found.transaction.segment == 3 and found.live == 100


def test_any_delete_through_append_only_alerts_however_small() -> None:
    history = [_t(1, 1000), _t(2, 0, 1, append_only=True), _t(3, 0, 1)]
    assert [(d.transaction.segment, d.reasons) for d in find_deletions(history, 10)] == [
        (2, (APPEND_ONLY,))
    ]
    logged = find_deletions(history, 10, logged={3})
    assert [d.transaction.segment for d in logged] == [2, 3]
    everything = find_deletions(history, 10, all_append_only=True)
    assert [d.transaction.segment for d in everything] == [2, 3]
    assert find_deletions([_t(1, 1000), _t(2, 0, 1, append_only=False)], 10) == []


def test_a_history_without_its_start_errs_towards_alerting() -> None:
    [found] = find_deletions([_t(5, 0, 1)], 10)
    assert found.live == 0 and found.percent == 100


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 500), st.sampled_from(["client", None])),
        max_size=30,
    ),
    st.integers(1, 100),
)
def test_deletions_are_exactly_the_deleting_transactions_over_the_share(
    rows: list[tuple[int, int, str | None]], percent: int
) -> None:
    history = [_t(n, puts, deletes, made_by=who) for n, (puts, deletes, who) in enumerate(rows)]
    found = {d.transaction.segment for d in find_deletions(history, percent)}
    live, expected = 0, set()
    for transaction in history:
        if transaction.deletes and transaction.deletes * 100 > max(live, 0) * percent:
            expected.add(transaction.segment)
        live += transaction.puts - transaction.deletes
    assert found == expected


def test_the_transactions_file_gives_its_ids() -> None:
    text = (
        "transaction 13, UTC time 2026-12-01T23:28:02.350201\n"
        "garbage line\n"
        "transaction 17, UTC time 2026-12-01T23:30:00.000001\n"
        "transaction x, UTC time 2026\n"
    )
    assert logged_transactions(text) == {13, 17}


@given(st.lists(st.integers(0, 2**40), max_size=20), st.text(max_size=200))
def test_the_transactions_file_parser_takes_every_line_borg_writes_and_nothing_else(
    ids: list[int], noise: str
) -> None:
    lines = [f"transaction {n}, UTC time 2026-12-01T23:28:02.350201" for n in ids]
    noisy = "\n".join(line for line in noise.splitlines() if "transaction" not in line)
    assert logged_transactions("\n".join([*lines, noisy])) == set(ids)


def test_compaction_waits_for_the_acknowledgement_then_for_the_hold() -> None:
    history = [_t(1, 100), _t(2, 0, 50, age=3)]
    deletions = find_deletions(history, 10)
    waiting = compaction_hold("alice/photos", history, deletions, 14 * DAY, NOW)
    assert waiting is not None and waiting.until is None
    assert "transaction 2" in waiting.reason() and "alert ack alice/photos" in waiting.reason()
    acknowledged = [_t(1, 100), _t(2, 0, 50, age=3, acknowledged=NOW)]
    held = compaction_hold(
        "alice/photos", acknowledged, find_deletions(acknowledged, 10), 14 * DAY, NOW
    )
    assert held is not None and held.until == NOW + dt.timedelta(days=11)
    assert "until 2026-12-12 12:00 UTC" in held.reason()
    old = [_t(1, 100), _t(2, 0, 50, age=15, acknowledged=NOW)]
    assert compaction_hold("alice/photos", old, find_deletions(old, 10), 14 * DAY, NOW) is None


def test_any_deleting_transaction_holds_however_small_but_not_maintenance() -> None:
    small = [_t(1, 1000), _t(2, 0, 1, age=2)]
    assert find_deletions(small, 10) == []
    hold = compaction_hold("alice/photos", small, [], 14 * DAY, NOW)
    assert hold is not None and hold.transaction == 2
    ours = [_t(1, 1000), _t(2, 0, 1, age=2, made_by="maintenance")]
    assert compaction_hold("alice/photos", ours, [], 14 * DAY, NOW) is None
