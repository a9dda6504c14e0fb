"""Request ids: uuid4-sized, distinct, and drawn afresh past each batch."""

from __future__ import annotations

import re

from gateway.ids import IdSource


def test_ids_are_32_hex_digits_and_never_repeat_across_batches() -> None:
    source = IdSource()
    ids = [source.hex() for _ in range(1000)]  # four batches of 256 and some
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_two_sources_draw_different_ids() -> None:
    assert IdSource().hex() != IdSource().hex()
