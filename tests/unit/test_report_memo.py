"""The memo of finished report rows: found by everything a row is made of, bounded to two generations."""
from __future__ import annotations

from hotline.daemon.stats.memo import Memo


def test_a_memo_finds_what_it_kept_and_forgets_the_oldest_generation() -> None:
    memo = Memo(3)
    for i in range(3):
        memo.keep(("day", i, (i, i * 2)), {"calls": i})
    assert memo.find(("day", 1, (1, 2))) == {"calls": 1}
    assert memo.find(("day", 1, (1, 3))) is None        # other sums: another row, never a stale one
    memo.keep(("day", 3, (3, 6)), {"calls": 3})          # the newer generation was full: it becomes the older
    assert len(memo) == 4 and memo.find(("day", 0, (0, 0))) == {"calls": 0}   # found in the older: kept anew
    for i in range(4, 9):
        memo.keep(("day", i, (i, i * 2)), {"calls": i})
    assert len(memo) <= 6
    assert memo.find(("day", 2, (2, 4))) is None and memo.find(("day", 8, (8, 16))) == {"calls": 8}
    memo.clear()
    assert len(memo) == 0 and memo.find(("day", 8, (8, 16))) is None
