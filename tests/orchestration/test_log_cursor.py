"""Following a run's logs with a cursor (``render_logs``): each chunk is printed exactly once
and in order per attempt, even when attempts run at once and their chunk keys interleave in
no particular order; a header is printed only where the attempt changes, on a line of its
own; chunks of attempts the projection does not know yet are held back, not lost."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from arco.errors import ValidationError
from arco.orchestration.logs import LogPage, attempt_log_prefix, render_logs
from arco.orchestration.runs import Attempt
from arco.storage import ObjectStore, open_store

RUN = "01KRUN0000000000000000000A"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _attempt(attempt_id: str, task: str, state: str = "RUNNING", n: int = 1) -> Attempt:
    return Attempt(
        attempt_id=attempt_id,
        run_id=RUN,
        task_key=f"demo/{task}:materialize",
        attempt=n,
        state=state,
        executor="inprocess",
        dispatched_at=NOW,
        start_deadline=NOW,
        cancel_requested=False,
        version=1,
    )


def _put(store: ObjectStore, attempt_id: str, seq: int, text: str) -> None:
    store.put(f"{attempt_log_prefix(RUN, attempt_id)}{seq:06d}.log", text.encode(), "create")


def _header(a: Attempt) -> str:
    return f"==> {a.task_key} attempt {a.attempt} ({a.attempt_id}) <==\n"


def _two(store: ObjectStore, a_text: str = "a\n", b_text: str = "b\n") -> tuple[Attempt, Attempt]:
    """Running attempts A1 (task a) and B1 (task b), each with a first chunk."""
    _put(store, "A1", 0, a_text)
    _put(store, "B1", 0, b_text)
    return _attempt("A1", "a"), _attempt("B1", "b")


@pytest.fixture
def store() -> ObjectStore:
    return open_store("memory://")


def test_without_a_cursor_the_text_is_grouped_by_attempt_in_their_order(
    store: ObjectStore,
) -> None:
    a, b = _attempt("A1", "a", "SUCCEEDED"), _attempt("B1", "b", "SUCCEEDED")
    _put(store, "B1", 0, "b says\n")
    _put(store, "A1", 0, "a says, without a newline")
    _put(store, "A1", 1, " and more")
    page = render_logs(store, RUN, [b, a])
    # the header of a starts a line; the text as a whole is the output as it was captured
    assert page.text == (f"{_header(b)}b says\n{_header(a)}a says, without a newline and more")
    assert render_logs(store, RUN, [b, a], after=page.cursor).text == ""
    assert render_logs(store, RUN, [a], headers=False).text == "a says, without a newline and more"


def test_concurrent_attempts_interleave_with_a_header_where_the_attempt_changes(
    store: ObjectStore,
) -> None:
    early, late = _two(store, "a0\n", "b0\n")
    first = render_logs(store, RUN, [early, late])
    assert first.text == f"{_header(early)}a0\n{_header(late)}b0\n"
    # a chunk of the earlier attempt sorts before the last key printed: not lost
    _put(store, "A1", 1, "a1\n")
    second = render_logs(store, RUN, [early, late], after=first.cursor)
    assert second.text == f"{_header(early)}a1\n"
    _put(store, "A1", 2, "a2\n")
    _put(store, "B1", 1, "b1\n")
    # the attempt printed last comes first: one header for each change
    third = render_logs(store, RUN, [early, late], after=second.cursor)
    assert third.text == f"a2\n{_header(late)}b1\n"
    assert render_logs(store, RUN, [early, late], after=third.cursor).text == ""


def test_a_line_split_across_answers_stays_whole_and_a_header_starts_a_line(
    store: ObjectStore,
) -> None:
    a, b = _attempt("A1", "a"), _attempt("B1", "b")
    _put(store, "A1", 0, "half a ")
    page = render_logs(store, RUN, [a, b])
    _put(store, "A1", 1, "line\n")
    page2 = render_logs(store, RUN, [a, b], after=page.cursor)
    assert page.text + page2.text == f"{_header(a)}half a line\n"
    _put(store, "A1", 2, "open")
    page3 = render_logs(store, RUN, [a, b], after=page2.cursor)
    _put(store, "B1", 0, "b\n")
    page4 = render_logs(store, RUN, [a, b], after=page3.cursor)
    assert page3.text == "open"
    assert page4.text == f"\n{_header(b)}b\n"  # the last answer ended within a line


def test_the_cursor_keeps_only_attempts_that_may_still_write_before_it(
    store: ObjectStore,
) -> None:
    a, b = _two(store)
    running = render_logs(store, RUN, [a, b])
    assert running.cursor.split(",") == [
        f"{attempt_log_prefix(RUN, 'B1')}000000.log",
        f"{attempt_log_prefix(RUN, 'A1')}000000.log",
    ]
    a = a.model_copy(update={"state": "SUCCEEDED"})
    done = render_logs(store, RUN, [a, b])
    assert done.cursor == f"{attempt_log_prefix(RUN, 'B1')}000000.log"  # the last chunk key
    # an attempt with no chunk yet that sorts before the last key keeps its folder
    c = _attempt("AA", "c")
    waiting = render_logs(store, RUN, [a, b, c], after=done.cursor)
    assert waiting.cursor.split(",") == [done.cursor, attempt_log_prefix(RUN, "AA")]
    _put(store, "AA", 0, "c\n")
    assert render_logs(store, RUN, [a, b, c], after=waiting.cursor).text == f"{_header(c)}c\n"


def test_chunks_of_an_attempt_not_yet_known_are_held_back_until_it_is(
    store: ObjectStore,
) -> None:
    a, b = _two(store)
    page = render_logs(store, RUN, [b])  # the projection does not show A1 yet
    assert page.text == f"{_header(b)}b\n"
    page2 = render_logs(store, RUN, [a, b], after=page.cursor)
    assert page2.text == f"{_header(a)}a\n"
    # a caller that wants one task's attempts ignores the others
    only = render_logs(store, RUN, [b], others=False)
    assert only.cursor == f"{attempt_log_prefix(RUN, 'B1')}000000.log"


def test_an_empty_log_has_a_cursor_too(store: ObjectStore) -> None:
    page = render_logs(store, RUN, [_attempt("A1", "a")])
    assert page == LogPage("", f"logs/{RUN}/")
    _put(store, "A1", 0, "a\n")
    assert render_logs(store, RUN, [_attempt("A1", "a")], after=page.cursor).text.endswith("a\n")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "logs/OTHERRUN/A1/000000.log",
        f"logs/{RUN}/A1/000000.log,../x",
        f"logs/{RUN}/A1/0.log",
        f"logs/{RUN}/A-1/",
        f"logs/{RUN}/A1/000000.log/x",
    ],
)
def test_a_cursor_of_another_form_is_refused_naming_the_rule(
    store: ObjectStore, cursor: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        render_logs(store, RUN, [], after=cursor)
    message = str(caught.value)
    assert message.startswith("after: must be a log cursor of run") and "\n" not in message
    assert f"logs/{RUN}/" in message


@pytest.mark.parametrize("seed", range(20))
def test_following_random_concurrent_writers_prints_every_chunk_once_in_order(
    seed: int,
    store: ObjectStore,
) -> None:
    rng = random.Random(seed)
    ids = sorted(f"A{rng.randrange(10**6):06d}" for _ in range(6))
    attempts = {i: _attempt(i, f"t{n}", "DISPATCHED") for n, i in enumerate(ids)}
    written: dict[str, list[str]] = {i: [] for i in ids}
    known: list[str] = []
    printed: list[str] = []
    cursor: str | None = None
    for step in range(400):
        for i in ids:  # an attempt becomes known (dispatched), writes, and ends
            a = attempts[i]
            if a.state == "DISPATCHED" and rng.random() < 0.05:
                attempts[i] = a.model_copy(update={"state": "RUNNING"})
            elif a.state == "RUNNING" and rng.random() < 0.3:
                line = f"{i} line {len(written[i])}\n"
                _put(store, i, len(written[i]), line)
                written[i].append(line)
                if rng.random() < 0.05:
                    attempts[i] = attempts[i].model_copy(update={"state": "SUCCEEDED"})
        if len(known) < len(ids) and rng.random() < 0.3:
            # the projection shows dispatches in their order (ids are ULIDs), and may show
            # one only after its attempt wrote
            known.append(ids[len(known)])
        seen = [attempts[i] for i in known]  # read before the chunks are listed
        page = render_logs(store, RUN, seen, after=cursor)
        printed.append(page.text)
        cursor = page.cursor
        assert len(cursor.split(",")) <= len(ids) + 1
    known = list(ids)
    last = render_logs(store, RUN, [attempts[i] for i in ids], after=cursor)
    text = "".join(printed) + last.text
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("==>")]
    for i in ids:
        assert [line for line in lines if line.startswith(f"{i} ")] == written[i]
    assert len(lines) == sum(len(w) for w in written.values())
    # headers only where the attempt changes
    owners = [line.split(" ", 1)[0] for line in lines]
    changes = 1 + sum(1 for x, y in itertools.pairwise(owners) if x != y)
    assert text.count("==> ") == changes
