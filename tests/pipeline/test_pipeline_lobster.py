"""LOBSTER days: the orderbook file is the oracle for the book rebuilt from the converted records, at every
message; then the lake and replay follow for the ticker like for a futures product."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_lobster import generate_day, top_n_after_each_message, write_pair
from marketphys.cli import main
from marketphys.pipeline.build import build
from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline import lobster as L
from marketphys.pipeline.bronze import F_LAST, F_SNAPSHOT
from marketphys.pipeline.lake import list_dates, read_partition


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    msgs, rows = generate_day(seed=3, n_events=4000, halt_at=1500)
    folder = tmp_path_factory.mktemp("lobster")
    paths = write_pair(folder, msgs, rows)
    return folder, paths, msgs, rows


def _utc(ns):
    import datetime as dt
    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.timezone.utc)


def _converted(paths):
    pairs, rest = L.split_inputs(paths)
    assert len(pairs) == 1 and rest == []
    day = L.read_day(pairs[0])
    return day, L.convert(day)


def test_generated_day_oracle_at_every_message(generated):
    _, paths, msgs, rows = generated
    day, cv = _converted(paths)
    assert (day.pair.ticker, day.pair.date, day.pair.levels) == ("TEST", "2024-01-16", 5)
    np.testing.assert_array_equal(day.book, rows)
    rebuilt = top_n_after_each_message(cv.records, cv.msg_end, 5)
    bad = np.flatnonzero((rebuilt != day.book).any(axis=1))
    assert bad.size == 0, f"first mismatch after message {bad[:1]}: {rebuilt[bad[0]]} vs {day.book[bad[0]]}"
    c = cv.counters
    # the generator moves deeper levels unseen, so the top-N repair must have been needed, and is marked
    assert c["synthetic_adds"] > 0 and c["synthetic_cancels"] > 0
    synth = cv.records["channel_id"] == L.SYNTHETIC_CHANNEL
    assert synth.sum() >= c["synthetic_adds"] + c["synthetic_cancels"]
    types = msgs[:, 1].astype(int)
    trades = cv.records["action"] == ord("T")
    assert trades.sum() == (types == 4).sum() + (types == 5).sum() == c["hidden_executions"] + (types == 4).sum()
    assert c["halts"] == 2 and [k for _, k in cv.halts] == ["halt", "resume"]


def test_trade_sides_and_prices(generated):
    """A type 4/5 on a sell order (-1) is a buyer-initiated trade: aggressor 'B', at the message's price."""
    _, paths, msgs, _ = generated
    day, cv = _converted(paths)
    t = cv.records[cv.records["action"] == ord("T")]
    m = msgs[np.isin(msgs[:, 1].astype(int), (4, 5))]
    np.testing.assert_array_equal(t["price"], m[:, 4].astype(np.int64) * L.PRICE_TO_NANO)
    np.testing.assert_array_equal(t["size"], m[:, 3].astype(np.int64))
    want = np.where(m[:, 5].astype(int) == -1, ord("B"), ord("A"))
    np.testing.assert_array_equal(t["side"], want)


@pytest.mark.parametrize("first_type", [1, 2, 3, 4, 5])
def test_start_book_is_first_row_minus_first_message(generated, tmp_path, first_type):
    """A day cut to start at a message of each type: the snapshot, redone by that message, is the first row."""
    _, _, msgs, rows = generated
    j = int(np.flatnonzero(msgs[:, 1].astype(int) == first_type)[0])
    paths = write_pair(tmp_path, msgs[j:], rows[j:])
    day, cv = _converted(paths)
    r = cv.records
    n_snap = int(np.flatnonzero(r["flags"] & F_LAST)[0]) + 1
    head = r[:n_snap]
    assert chr(head["action"][0]) == "R" and (head["flags"] & F_SNAPSHOT).all()
    assert (head["ts_recv"] == day.ts_ns[0]).all() and (head["flags"][:-1] & F_LAST == 0).all()
    book = {(chr(s), int(p) // L.PRICE_TO_NANO): int(q) for s, p, q in zip(head["side"][1:], head["price"][1:],
                                                                           head["size"][1:])}
    typ, size, px, d = (int(day.type[0]), int(day.size[0]), int(day.price[0]), int(day.direction[0]))
    key = ("B" if d == 1 else "A", px)
    sign = -1 if typ == 1 else (1 if typ in (2, 3, 4) else 0)
    book[key] = book.get(key, 0) - sign * size  # redo the first message
    shown = {}
    for k in range(5):
        for s, pc in (("A", 0), ("B", 2)):
            if rows[j][4 * k + pc + 1] > 0:
                shown[(s, int(rows[j][4 * k + pc]))] = int(rows[j][4 * k + pc + 1])
    assert {k: v for k, v in book.items() if v} == shown
    # no repair was needed after the first message: the start book already explains the first row
    assert not (r["channel_id"][: cv.msg_end[0]] == L.SYNTHETIC_CHANNEL).any()


def test_times_are_new_york_local(tmp_path):
    """09:30 ET is 13:30 UTC in June (EDT) and 14:30 UTC in January (EST)."""
    msgs, rows = generate_day(seed=1, n_events=50)
    for date, hour in (("2012-06-21", 13), ("2024-01-16", 14)):
        paths = write_pair(tmp_path / date, msgs, rows, date=date)
        day = L.read_day(L.split_inputs(paths)[0][0])
        first = _utc(day.ts_ns[0])
        assert (first.hour, first.minute, str(first.date())) == (hour, 30, date)


def test_zip_and_csv_pair_give_the_same_records(generated, tmp_path):
    _, paths, msgs, rows = generated
    z = write_pair(tmp_path, msgs, rows, as_zip=True)
    assert L.is_lobster(z[0])
    _, a = _converted(paths)
    _, b = _converted(z)
    np.testing.assert_array_equal(a.records, b.records)


def test_bad_lobster_input_names_field_and_value(tmp_path):
    msgs, rows = generate_day(seed=2, n_events=40)
    bad = msgs.copy()
    bad[3, 1] = 6
    paths = write_pair(tmp_path / "a", bad, rows)
    with pytest.raises(L.LobsterError, match=r"row 4: field Type = 6"):
        L.read_day(L.split_inputs(paths)[0][0])
    paths = write_pair(tmp_path / "b", msgs[:-1], rows)
    with pytest.raises(L.LobsterError, match=r"messages but \d+ orderbook rows"):
        L.read_day(L.split_inputs(paths)[0][0])
    only = write_pair(tmp_path / "c", msgs, rows)[:1]
    with pytest.raises(L.LobsterError, match="has no orderbook file"):
        L.split_inputs(only)
    day = L.read_day(L.split_inputs(write_pair(tmp_path / "d", msgs, rows))[0][0])
    with pytest.raises(L.LobsterError, match=r"field Price = \d+ .* not a multiple of the tick size 0.05"):
        L.check_tick(day, 50_000_000)


def _row_before(day, ts):
    """Index of the last message at or before each window end."""
    return np.searchsorted(day.ts_ns, ts, side="right") - 1


def test_build_generated_day_snap_matches_orderbook(generated, tmp_path, capsys):
    folder, paths, _, _ = generated
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(folder), "--lake", str(lake), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "lobster TEST 2024-01-16 (5 levels)" in out and "synthetic adds" in out and "trading halts at" in out
    assert list_dates(lake, cf.SNAP.name, "TEST") == ["2024-01-16"]
    snap = read_partition(lake, cf.SNAP.name, "TEST", "2024-01-16").to_pandas()
    day = L.read_day(L.split_inputs(paths)[0][0])
    k = _row_before(day, snap.window_end_ts_ns.to_numpy())
    row = day.book[k]
    two_sided = (row[:, 1] > 0) & (row[:, 3] > 0)
    assert two_sided.mean() > 0.9
    # a trading halt: no valid book from the halt until trading resumes, a valid one again after
    (t_halt,), (t_resume,) = (day.ts_ns[(day.type == 7) & (day.price == p)] for p in (-1, 1))
    halted = (snap.window_end_ts_ns >= t_halt) & (snap.window_end_ts_ns < t_resume)
    assert halted.sum() >= 1 and not snap.book_valid[halted].any()
    two_sided &= ~halted.to_numpy()
    s = snap[two_sided]
    r = row[two_sided]
    np.testing.assert_array_equal(s.best_ask_price_int, r[:, 0] * L.PRICE_TO_NANO)
    np.testing.assert_array_equal(s.best_ask_qty, r[:, 1])
    np.testing.assert_array_equal(s.best_bid_price_int, r[:, 2] * L.PRICE_TO_NANO)
    np.testing.assert_array_equal(s.best_bid_qty, r[:, 3])
    assert s.book_valid.all() and (snap.tick_int == 10_000_000).all()
    # the lake holds one product: replay needs no --product, and uses the ticker's tick (0.01)
    card = tmp_path / "card.json"
    assert main(["replay", "--lake", str(lake), "--quiet", "--max-frames", "200", "--scorecard", str(card)]) == 0
    assert "replay TEST 2024-01-16" in capsys.readouterr().out and card.is_file()


def test_tick_size_flag_reaches_the_lake(generated, tmp_path, capsys):
    folder, _, _, _ = generated
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(folder), "--lake", str(lake), "--quiet", "--tick-size", "0.5"]) == 2
    assert "not a multiple of the tick size 0.5; pass the right --tick-size" in capsys.readouterr().err
    assert not lake.exists() or not list(lake.rglob("*.parquet"))
    build(folder, lake, progress=False, tick_size=0.01)
    snap = read_partition(lake, cf.SNAP.name, "TEST", "2024-01-16")
    assert set(snap.column("tick_int").to_pylist()) == {10_000_000}


def test_real_day_oracle_at_every_message(lobster_amzn):
    pairs, _ = L.split_inputs([lobster_amzn])
    day = L.read_day(pairs[0])
    assert (day.pair.ticker, day.pair.date, len(day)) == ("AMZN", "2012-06-21", 155_935)
    cv = L.convert(day)
    rebuilt = top_n_after_each_message(cv.records, cv.msg_end, 5)
    bad = np.flatnonzero((rebuilt != day.book).any(axis=1))
    assert bad.size == 0, f"{bad.size} messages differ, first {bad[:3]}"
    assert cv.counters["hidden_executions"] == int((day.type == 5).sum())


def test_real_day_builds_and_replays(lobster_amzn, tmp_path, capsys):
    lake = tmp_path / "lake"
    assert main(["build", "--input", str(lobster_amzn), "--lake", str(lake), "--quiet"]) == 0
    assert "lobster AMZN 2012-06-21" in capsys.readouterr().out
    snap = read_partition(lake, cf.SNAP.name, "AMZN", "2012-06-21").to_pandas()
    assert len(snap) == 46_800 and snap.book_valid.all()  # 09:30-16:00 every 0.5 s, a two-sided book throughout
    first = _utc(snap.window_end_ts_ns.iloc[0])
    assert (first.hour, first.minute) == (13, 30)
    assert main(["replay", "--lake", str(lake), "--quiet", "--max-frames", "500"]) == 0
    assert "replay AMZN 2012-06-21" in capsys.readouterr().out


def test_time_outside_the_day_names_the_field(tmp_path):
    msgs, rows = generate_day(seed=2, n_events=40)
    bad = msgs.copy()
    bad[0, 0] = 90_000.5
    paths = write_pair(tmp_path, bad, rows)
    with pytest.raises(L.LobsterError, match=r"row 1: field Time = 90000.5 is not seconds after midnight"):
        L.read_day(L.split_inputs(paths)[0][0])
