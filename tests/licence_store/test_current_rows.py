"""CurrentRows: rows answered from memory only while the change log says they are unchanged,
no longer than their maximum age, and everything forgotten at a gap in the log."""

from __future__ import annotations

from collections.abc import Callable

from services.licence_store.current_rows import CurrentRows


class Store:
    """A change log and rows, as the triggers and the table would have them."""

    def __init__(self) -> None:
        self.log: list[tuple[int, str]] = [(1, "")]
        self.rows = {"a": "a1", "b": "b1", "c": "c1"}
        self.fetched: list[list[str]] = []

    def write(self, serial: str, value: str) -> None:
        self.rows[serial] = value
        self.log.append((self.log[-1][0] + 1, serial))

    def changes(self, seq: int) -> list[tuple[int, str]]:
        if not seq:
            return self.log[-1:]
        return [c for c in self.log if c[0] >= seq]

    def fetch(self, serials: list[str]) -> dict[str, str]:
        self.fetched.append(sorted(serials))
        return {s: self.rows[s] for s in serials if s in self.rows}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reader(store: Store, **kw: object) -> tuple[CurrentRows[str], Callable[..., dict[str, str]]]:
    rows: CurrentRows[str] = CurrentRows(**kw)  # type: ignore[arg-type]
    return rows, lambda *serials: rows.read(serials, store.changes, store.fetch)


def test_unchanged_rows_are_answered_from_memory_and_changed_ones_read_again() -> None:
    store = Store()
    rows, read = reader(store)
    assert read("a", "b") == {"a": "a1", "b": "b1"}
    assert read("a", "b") == {"a": "a1", "b": "b1"}
    assert store.fetched == [["a", "b"]]
    store.write("b", "b2")
    assert read("a", "b", "c") == {"a": "a1", "b": "b2", "c": "c1"}
    assert store.fetched[1:] == [["b", "c"]]
    assert (rows.hits, rows.misses) == (3, 4)


def test_a_licence_that_does_not_exist_is_asked_for_every_time() -> None:
    store = Store()
    _, read = reader(store)
    assert read("zz") == {} and read("zz") == {}
    store.rows["zz"] = "issued now"  # (with its change noted or not: it was never kept)
    assert read("zz") == {"zz": "issued now"}
    assert store.fetched == [["zz"]] * 3


def test_a_gap_in_the_change_log_forgets_everything() -> None:
    store = Store()
    _, read = reader(store)
    read("a", "b")
    store.write("c", "c2")
    store.rows["a"] = "a2"  # its change noted, then deleted from the log
    store.log.append((store.log[-1][0] + 2, "c"))
    assert read("a", "b") == {"a": "a2", "b": "b1"}
    assert store.fetched[-1] == ["a", "b"]


def test_another_change_under_the_number_last_seen_forgets_everything() -> None:
    store = Store()
    _, read = reader(store)
    store.write("c", "c2")
    read("a")
    store.log.pop()  # the newest change deleted; its number given to the next one
    store.write("a", "a2")
    assert store.log[-1][0] == 2
    assert read("a") == {"a": "a2"}


def test_a_reader_behind_the_kept_changes_forgets_everything() -> None:
    store = Store()
    _, read = reader(store)
    read("a")
    store.rows["a"] = "a2"
    store.log = [(50, "x"), (51, "y")]  # the log pruned past where the reader stood
    assert read("a") == {"a": "a2"}


def test_an_emptied_change_log_is_not_trusted() -> None:
    store = Store()
    rows, read = reader(store)
    read("a")
    store.log = []
    store.rows["a"] = "a2"
    assert read("a") == {"a": "a2"} and read("a") == {"a": "a2"}
    assert store.fetched == [["a"]] * 3 and rows.seq == 0


def test_no_row_is_answered_from_memory_beyond_its_maximum_age() -> None:
    store, clock = Store(), Clock()
    _, read = reader(store, max_age=1.0, clock=clock)
    read("a")
    store.rows["a"] = "a2"  # written behind the change log's back
    clock.now += 1.0
    assert read("a") == {"a": "a1"}
    clock.now += 0.01
    assert read("a") == {"a": "a2"}


def test_the_oldest_row_read_is_forgotten_beyond_capacity() -> None:
    store = Store()
    _, read = reader(store, capacity=2)
    read("a")
    read("b")
    read("a")  # kept: read first, still the oldest
    read("c")
    assert store.fetched == [["a"], ["b"], ["c"]]
    read("b", "c")
    read("a")
    assert store.fetched[3:] == [["a"]]


def test_each_read_is_reported_as_rows_kept_and_rows_read() -> None:
    store = Store()
    told: list[tuple[int, int]] = []
    rows: CurrentRows[str] = CurrentRows(report=lambda kept, read: told.append((kept, read)))
    for serials in (("a", "b"), ("a", "b", "zz"), ("c",)):
        rows.read(serials, store.changes, store.fetch)
    store.log = []
    rows.read(("a",), store.changes, store.fetch)
    assert told == [(0, 2), (2, 0), (0, 1), (0, 1)]
