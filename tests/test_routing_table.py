"""Tests for gateway.routing.table: rows as the constraints read them, and lifecycle resolution."""

from __future__ import annotations

from gateway.routing.table import JSON_MODE, STREAMING, TOOLS, VISION, ModelTable
from tests.routing_catalogs import catalog, model


def test_rows_hold_what_routing_reads() -> None:
    table = ModelTable(catalog(model("m", window=50_000, max_out=600, caps=(1, 2, 3, 4, 5), price=(2.0, 8.0),
                                     vision=False, json=False)))  # fmt: skip
    row = table.rows["m@1"]
    assert (row.window, row.max_out, row.default_out, row.room) == (50_000, 600, 600, 49_400)
    assert row.caps == (1, 2, 3, 4, 5)
    assert (row.usd_in, row.usd_out) == (2.0 / 1e6, 8.0 / 1e6)
    assert row.bits == TOOLS | STREAMING and not row.bits & (VISION | JSON_MODE)
    assert (row.status, row.deprecated) == ("active", False)


def test_a_retired_model_resolves_to_its_successor_over_several_hops() -> None:
    table = ModelTable(catalog(
        model("a", status="retired", successor="b"),
        model("b", status="retired", successor="c"),
        model("c", status="deprecated", successor="d"),
        model("d"),
    ))  # fmt: skip
    row, note = table.resolve("a")
    assert row is not None and row.key == "c@1"  # deprecated still serves
    assert note is not None and (note.key, note.check) == ("a@1", "retired")
    assert note.reason == "retired: its successor c@1 serves in its place"
    row, note = table.resolve("d")
    assert row is not None and row.key == "d@1" and note is None


def test_a_retired_model_without_successor_cannot_serve() -> None:
    table = ModelTable(catalog(model("gone", status="retired"), model("x")))
    row, note = table.resolve("gone")
    assert row is None and note is not None
    assert (note.key, note.reason) == ("gone@1", "retired, and no successor serves in its place")
    assert table.resolve("nope") == (None, None)


def test_a_successor_cycle_ends() -> None:
    table = ModelTable(catalog(model("a", status="retired", successor="b"), model("b", status="retired", successor="a")))
    row, note = table.resolve("a")
    assert row is None and note is not None and note.check == "retired"


def test_members_keep_order_drop_duplicates_and_note_retirements() -> None:
    table = ModelTable(catalog(
        model("old", status="retired", successor="new"), model("new"), model("x"),
        model("m", version="1"), model("m", version="2"),
    ))  # fmt: skip
    rows, notes = table.members(("x", "old", "new", "m@1", "m"))
    assert [r.key for r in rows] == ["x@1", "new@1", "m@1", "m@2"]
    assert [n.key for n in notes] == ["old@1"]


def test_everything_is_one_serving_version_per_model() -> None:
    table = ModelTable(catalog(
        model("m", version="1"), model("m", version="2"), model("gone", status="retired"),
        model("dep", status="deprecated"),
    ))  # fmt: skip
    assert [r.key for r in table.everything()] == ["m@2", "dep@1"]
