"""The instrument universe of a synthetic session: one ES future and its option chain.

Symbols follow CME conventions: the front quarterly future (``ESM4``), quarterly options
on it (``ESM4 C5200``, expiring with the future at 13:30 UTC on the third Friday) and a
0DTE weekly (``E2DK4 C5200``: week 2, Thursday, May 2024) expiring at 20:00 UTC on the
session date. Both option series have the quarterly future as underlying.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from marketphys.synth.config import MULTIPLIER, PRICE_SCALE, TICK_INT, SynthConfig
from marketphys.synth.medium import Medium, strike_grid

MONTH_CODES = "FGHJKMNQUVXZ"
DAY_CODES = {0: "A", 1: "B", 2: "C", 3: "D"}
FUTURE_INSTRUMENT_ID = 5602
OPTION_ID0 = 42_000_000
SMILES = {"0dte": (0.13, -1.2, 30.0), "quarterly": (0.14, -0.9, 8.0)}
"""(atm, skew, curvature) of σ(K) = atm + skew·ln(K/F) + curv·ln(K/F)² per series."""


def third_friday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, 15)
    return d + dt.timedelta(days=(4 - d.weekday()) % 7)


def front_quarterly(date: dt.date) -> tuple[str, dt.datetime]:
    """Front quarterly ES contract on ``date``: (symbol, expiry at 13:30 UTC)."""
    y, m = date.year, date.month
    while True:
        qm = ((m - 1) // 3 + 1) * 3
        exp = third_friday(y, qm)
        if exp > date:
            break
        m = qm + 1
        if m > 12:
            y, m = y + 1, 1
    return f"ES{MONTH_CODES[qm - 1]}{y % 10}", dt.datetime(exp.year, exp.month, exp.day, 13, 30, tzinfo=dt.timezone.utc)


def weekly_root(date: dt.date) -> str:
    """CME weekly option root for ``date``: E{week}{day} Monday-Thursday, EW{week} on Fridays."""
    week = (date.day - 1) // 7 + 1
    tail = f"{MONTH_CODES[date.month - 1]}{date.year % 10}"
    if date.weekday() in DAY_CODES:
        return f"E{week}{DAY_CODES[date.weekday()]}{tail}"
    return f"EW{week}{tail}"


@dataclass
class Instruments:
    """Column arrays, index 0 = the future, then options (series-major, strike, call/put)."""

    instrument_id: np.ndarray
    raw_symbol: list[str]
    klass: np.ndarray          # 'F', 'C', 'P'
    strike: np.ndarray         # price (nan for the future)
    expiration_ns: np.ndarray
    series: list[str]          # 'future', '0dte', 'quarterly'
    open_interest: np.ndarray
    wall_index: np.ndarray     # which wall sits at this strike (-1: none)
    future_symbol: str

    @property
    def options(self) -> np.ndarray:
        return np.flatnonzero(self.klass != "F")

    def smile_params(self) -> np.ndarray:
        out = np.zeros((len(self.raw_symbol), 3))
        for i, s in enumerate(self.series):
            if s in SMILES:
                out[i] = SMILES[s]
        return out

    def to_rows(self) -> list[dict]:
        return [{"instrument_id": int(self.instrument_id[i]), "raw_symbol": self.raw_symbol[i],
                 "instrument_class": str(self.klass[i]), "strike": None if np.isnan(self.strike[i]) else float(self.strike[i]),
                 "expiration_ns": int(self.expiration_ns[i]), "series": self.series[i],
                 "open_interest": int(self.open_interest[i]), "wall_index": int(self.wall_index[i])}
                for i in range(len(self.raw_symbol))]


def open_interest(strike: float, klass: str, series: str, cfg: SynthConfig, wall_peak: float | None) -> int:
    """OI: a hump around the open, more on round strikes, and the walls' strikes heaviest."""
    z = (strike - cfg.open_price) / 30.0
    oi = 300.0 + 2500.0 * np.exp(-0.5 * z * z) + (800.0 if strike % 25 == 0 else 0.0)
    if (klass == "P") == (strike < cfg.open_price):
        oi *= 1.3  # OTM side carries more
    if wall_peak is not None:
        oi += 8000.0 + 2000.0 * wall_peak
    return int(round(oi * (3.0 if series == "quarterly" else 1.0)))


def build_instruments(cfg: SynthConfig, med: Medium) -> Instruments:
    date = dt.date.fromisoformat(cfg.date)
    fut_sym, fut_exp = front_quarterly(date)
    day_exp = dt.datetime(date.year, date.month, date.day, 20, 0, tzinfo=dt.timezone.utc)
    ids, syms, kl, ks, exps, series, oi, widx = [FUTURE_INSTRUMENT_ID], [fut_sym], ["F"], [np.nan], [int(fut_exp.timestamp()) * 10**9], ["future"], [0], [-1]
    wall_at = {w.strike: k for k, w in enumerate(med.walls)}
    strikes = strike_grid(cfg)
    for si, (name, root, exp) in enumerate((("0dte", weekly_root(date), day_exp), ("quarterly", fut_sym, fut_exp))):
        for ki, k in enumerate(strikes):
            for ci, c in enumerate("CP"):
                ids.append(OPTION_ID0 + 100_000 * si + 2 * ki + ci)
                syms.append(f"{root} {c}{int(k)}")
                kl.append(c)
                ks.append(float(k))
                exps.append(int(exp.timestamp()) * 10**9)
                series.append(name)
                w = wall_at.get(float(k))
                widx.append(-1 if w is None else w)
                oi.append(open_interest(float(k), c, name, cfg, None if w is None else med.walls[w].peak))
    # the future's own OI: a plausible constant
    oi[0] = 2_200_000
    return Instruments(np.array(ids, np.int64), syms, np.array(kl), np.array(ks), np.array(exps, np.int64), series,
                       np.array(oi, np.int64), np.array(widx, np.int64), fut_sym)


def definition_records(ins: Instruments, ts_ns: int) -> list:
    """InstrumentDefMsg records (databento_dbn) for every instrument."""
    import databento_dbn as dbn

    out = []
    for i in range(len(ins.raw_symbol)):
        k = ins.klass[i]
        common = dict(publisher_id=1, instrument_id=int(ins.instrument_id[i]), ts_event=ts_ns, ts_recv=ts_ns,
                      display_factor=PRICE_SCALE, raw_symbol=ins.raw_symbol[i], asset="ES",
                      security_update_action=dbn.SecurityUpdateAction.ADD, expiration=int(ins.expiration_ns[i]),
                      unit_of_measure_qty=MULTIPLIER * PRICE_SCALE, exchange="XCME", currency="USD",
                      unit_of_measure="IPNT", raw_instrument_id=int(ins.instrument_id[i]), channel_id=0)
        if k == "F":
            rec = dbn.InstrumentDefMsg(min_price_increment=TICK_INT, security_type="FUT",
                                       instrument_class=dbn.InstrumentClass.FUTURE, cfi="FFIXSX", group="ES",
                                       min_price_increment_amount=TICK_INT * MULTIPLIER, **common)
        else:
            rec = dbn.InstrumentDefMsg(min_price_increment=50_000_000, security_type="OOF",
                                       instrument_class=dbn.InstrumentClass.CALL if k == "C" else dbn.InstrumentClass.PUT,
                                       cfi="OCAFPS" if k == "C" else "OPAFPS", group="EW",
                                       strike_price=int(round(ins.strike[i] * PRICE_SCALE)), strike_price_currency="USD",
                                       underlying=ins.future_symbol, underlying_id=FUTURE_INSTRUMENT_ID, **common)
        out.append(rec)
    return out


def statistics_records(ins: Instruments, ts_ns: int) -> list:
    """One OPEN_INTEREST StatMsg per instrument (quantity = contracts), published before the open."""
    import databento_dbn as dbn

    return [dbn.StatMsg(publisher_id=1, instrument_id=int(ins.instrument_id[i]), ts_event=ts_ns, ts_recv=ts_ns,
                        ts_ref=dbn.UNDEF_TIMESTAMP, price=dbn.UNDEF_PRICE, quantity=int(ins.open_interest[i]),
                        stat_type=dbn.StatType.OPEN_INTEREST, sequence=i + 1, update_action=dbn.StatUpdateAction.NEW,
                        channel_id=0)
            for i in range(len(ins.raw_symbol))]
