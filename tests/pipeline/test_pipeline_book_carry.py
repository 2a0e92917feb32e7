"""One book across files and days: a synthetic session cut into two files, at an hour boundary and at a
UTC-day boundary (the second file opening with a re-sent snapshot, no clear, no F_LAST, as Databento's
next-day file does), built together and one file per ``build`` call, gives the unsplit build's surfaces.
Also: a stream without its snapshot is flagged (book_valid false, unknown order events counted) unless
a partial book is allowed, and the book state survives a round trip through its stored table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from marketphys.pipeline import contracts_futures as cf
from marketphys.pipeline.book import FuturesBook
from marketphys.pipeline.book_state import restore, state_table
from marketphys.pipeline.build import build
from marketphys.pipeline.futures_carry import BOOK_STATE
from marketphys.pipeline.lake import list_dates, read_partition
from marketphys.synth import SynthConfig
from marketphys.synth import dbn as D
from marketphys.synth import events as E
from marketphys.synth.snapshots import resend_snapshot, split_at

SURFACES = [cf.SNAP, cf.WALL, cf.VACUUM, cf.PHYSICS, cf.BUCKET_RADAR]


def session_events(date: str, start: str, minutes: float, seed: int):
    from marketphys.synth.futures import generate_futures
    from marketphys.synth.instruments import build_instruments
    from marketphys.synth.medium import build_medium
    from marketphys.synth.path import simulate_path

    cfg = SynthConfig(minutes=minutes, seed=seed, date=date, start_utc=start)
    med = build_medium(cfg)
    path = simulate_path(cfg, med)
    ins = build_instruments(cfg, med)
    fut = generate_futures(cfg, med, path.sub_ticks, int(ins.instrument_id[0]))
    return cfg, D.sort_events(fut.events), {ins.raw_symbol[0]: int(ins.instrument_id[0])}


def day_of(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 10**9, tz=dt.timezone.utc).date().isoformat()


def write(path, ev, sym, start_ns, end_ns):
    D.write_mbo(path, ev, sym, start_ns, end_ns, day_of(start_ns))
    return path


def surfaces(lake) -> dict:
    out = {}
    for c in SURFACES:
        parts = [read_partition(lake, c.name, "ES", d) for d in list_dates(lake, c.name, "ES")]
        out[c.name] = pa.concat_tables(parts) if parts else c.schema.empty_table()
    return out


def assert_same(got: dict, want: dict):
    for name in want:
        assert got[name].num_rows == want[name].num_rows, name
        assert got[name].equals(want[name]), name


def build_es(paths, lake, **kw):
    return build(paths, lake, progress=False, tick_size=0.25, **kw)


@pytest.fixture(scope="module", params=["hour", "day"])
def split_session(request, tmp_path_factory):
    """(unsplit file, first file, second file, cut time): 3 minutes around 14:00 or midnight UTC."""
    tmp = tmp_path_factory.mktemp(f"split_{request.param}")
    if request.param == "hour":
        cfg, ev, sym = session_events("2024-05-09", "13:58:30", 3, seed=4)
        cut = int(dt.datetime(2024, 5, 9, 14, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    else:
        cfg, ev, sym = session_events("2024-05-09", "23:58:30", 3, seed=5)
        cut = int(dt.datetime(2024, 5, 10, tzinfo=dt.timezone.utc).timestamp()) * 10**9
        ev = resend_snapshot(ev, cut)  # the next day's file opens with the resting orders again
    a, b = split_at(ev, cut)
    assert a.shape[1] > 1000 and b.shape[1] > 1000
    whole = write(tmp / "whole.mbo.dbn.zst", ev, sym, cfg.start_ns, cfg.end_ns)
    fa = write(tmp / "a" / "a.mbo.dbn.zst", a, sym, cfg.start_ns, cut)
    fb = write(tmp / "b" / "b.mbo.dbn.zst", b, sym, cut, cfg.end_ns)
    return request.param, whole, fa, fb, cut, tmp


def test_split_files_build_like_the_unsplit_file(split_session):
    kind, whole, fa, fb, cut, tmp = split_session
    want = surfaces(_built(tmp / "lake_whole", [whole]))
    snap = want[cf.SNAP.name].to_pandas()
    assert snap.book_valid.mean() > 0.95 and (snap.window_end_ts_ns > cut).sum() > 100
    # together: one call, both files
    together = _built(tmp / "lake_together", [fa, fb])
    assert_same(surfaces(together), want)
    # one after the other: the second call starts from the stored book state
    sep = tmp / "lake_separate"
    s1 = build_es([fa], sep)
    s2 = build_es([fb], sep)
    assert_same(surfaces(sep), want)
    assert s1.futures[0].start == "snapshot"
    if kind == "day":
        assert s2.futures[0].start == f"snapshot (replaces the book carried from {day_of(cut - 1)})"
        assert list_dates(sep, BOOK_STATE, "ES") == [day_of(cut - 1), day_of(cut)]
    else:
        assert s2.futures[0].start.startswith("carried book from " + day_of(cut))
        assert any(f"{day_of(cut)} ES: book started from carried book" in x for x in s2.lines())
    # building the second file again (same inputs) gives the same lake: the day is rebuilt, not appended
    build_es([fb], sep)
    if kind == "day":
        assert_same(surfaces(sep), want)


def _built(lake, paths):
    if not lake.exists():
        build_es(paths, lake)
    return lake


def test_without_the_carried_state_the_second_file_differs(split_session):
    """The carry is what makes the separate builds agree: the second file alone, in a fresh lake, has no book
    (hour split: no snapshot in it) or a new one with no history (day split: its own snapshot)."""
    kind, whole, fa, fb, cut, tmp = split_session
    alone = tmp / "lake_b_alone"
    s = build_es([fb], alone)
    want = surfaces(_built(tmp / "lake_whole", [whole]))
    got = surfaces(alone)
    # the window ending at the cut is the first file's (hour), or the next day's first row (day)
    first_row = pa.compute.greater_equal if kind == "day" else pa.compute.greater
    after = want[cf.SNAP.name].filter(first_row(want[cf.SNAP.name]["window_end_ts_ns"], cut))
    assert got[cf.SNAP.name].num_rows == after.num_rows
    if kind == "hour":
        assert s.futures[0].start.startswith("nothing")
        assert not got[cf.SNAP.name]["book_valid"].to_numpy(zero_copy_only=False).any()
        assert s.futures[0].counters["unknown_order_ids"] > 0
    else:
        assert s.futures[0].start == "snapshot"
        assert not got[cf.WALL.name].equals(want[cf.WALL.name])


def test_stream_without_snapshot_is_flagged_unless_allowed(tmp_path):
    cfg, ev, sym = session_events("2024-05-09", "13:30:00", 1, seed=6)
    ev = ev[:, (ev[E.FLAGS] & E.F_SNAPSHOT) == 0]  # starts mid-session: orders never seen get cancelled
    f = write(tmp_path / "in" / "mid.mbo.dbn.zst", ev, sym, cfg.start_ns, cfg.end_ns)
    s = build_es([f], tmp_path / "strict")
    snap = read_partition(tmp_path / "strict", cf.SNAP.name, "ES", cfg.date).to_pandas()
    assert not snap.book_valid.any()
    n_unknown = s.futures[0].counters["unknown_order_ids"]
    assert n_unknown > 0 and snap.unknown_order_events.sum() == n_unknown
    lines = "\n".join(s.lines())
    assert f"{n_unknown:,} events on unknown order ids" in lines
    assert f"{cfg.date} ES: book started from nothing: no snapshot" in lines
    s2 = build_es([f], tmp_path / "partial", allow_partial_book=True)
    snap2 = read_partition(tmp_path / "partial", cf.SNAP.name, "ES", cfg.date).to_pandas()
    assert snap2.book_valid.mean() > 0.5
    assert (snap2.unknown_order_events == snap.unknown_order_events).all()
    assert "partial book (allowed" in "\n".join(s2.lines())


def test_book_state_round_trip_continues_like_one_feed():
    """Stop a feed anywhere, store the state as its table, restore, go on: every surface is the one feed's."""
    from fixtures_pipeline import living_book_stream

    from marketphys.pipeline.silver_futures import surfaces_from_batch

    recs = living_book_stream(6000, seed=2)

    def tables(batches):
        out = {}
        for b in batches:
            for c, t in surfaces_from_batch(b, 7, 250_000_000).items():
                out.setdefault(c.name, []).append(pa.table({k: np.array(t.column(k).to_numpy(zero_copy_only=False))
                                                            for k in t.column_names}))
        return {k: pa.concat_tables(v) for k, v in out.items()}

    one = FuturesBook(7, 250_000_000, allow_partial=True, windows_per_batch=7)
    want = tables(one.feed(recs) + one.finish())
    for cut in (1, 2999, 3000, 5999):  # the stream's clear + snapshot sits mid-way
        first = FuturesBook(7, 250_000_000, allow_partial=True, windows_per_batch=7)
        batches = first.feed(recs[:cut])
        second = restore(state_table(first, product="ES", last_ts_recv=int(recs["ts_recv"][cut - 1])),
                         windows_per_batch=5)
        got = tables(batches + second.feed(recs[cut:]) + second.finish())
        assert_same(got, want)
        assert second.counters == one.counters


def test_start_line_names_how_the_book_starts():
    from marketphys.pipeline.bronze import F_LAST, F_SNAPSHOT, MBO_DTYPE
    from marketphys.pipeline.silver_futures import start_of

    recs = np.zeros(3, MBO_DTYPE)
    recs["instrument_id"] = [8, 7, 7]
    recs["action"] = [ord("A"), ord("R"), ord("A")]
    assert start_of(recs, 7, None, False) == "clear"
    assert start_of(recs, 7, "2024-05-08", False) == "clear (replaces the book carried from 2024-05-08)"
    recs["flags"][1] = F_SNAPSHOT
    assert start_of(recs, 7, None, False) == "snapshot"
    recs["action"][1], recs["flags"][1] = ord("C"), F_LAST
    assert start_of(recs, 7, "2024-05-08", False) == "carried book from 2024-05-08"
    assert start_of(recs, 7, None, True) == "nothing: partial book (allowed by --allow-partial-book)"
    assert start_of(recs, 7, None, False).startswith("nothing: no snapshot, book_valid false")
