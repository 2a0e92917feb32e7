"""``chain_gex``: dealer gamma exposure of a whole option chain, its profile and zero-gamma level.

Per option, in dollars per 1 % move of the underlying (``docs/gex.md``):

    GEX = sign * Gamma_F * open_interest * multiplier * F**2 * 0.01
        = sign * Gamma_S * open_interest * multiplier * S**2 * 0.01   (F = S exp((r - q) T))

with ``Gamma_F`` the Black-76 gamma off the expiry's forward. ``sign`` is the dealer
convention (``DEALERS``); the default, dealers long calls and short puts (customers sell
calls and buy puts), makes calls + and puts -.

Profile: the net GEX recomputed with the underlying moved to each level ``S'`` (every
forward scaled by ``S'/S``). "Sticky strike" (default) keeps each option's IV; "sticky
moneyness" gives each option the IV its expiry's smile had at the same ``K/F``. The
zero-gamma level is where the profile changes sign (nearest the spot), refined on the exact profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marketphys.pipeline import black76
from marketphys.pipeline import gex_profile as prof

from . import frame
from .forwards import forwards_per_expiry

DEALERS = {"long_calls_short_puts": (1.0, -1.0), "short_calls_long_puts": (-1.0, 1.0),
           "short_both": (-1.0, -1.0), "long_both": (1.0, 1.0)}
STICKY = ("strike", "moneyness")


@dataclass
class ChainGex:
    """What ``chain_gex`` returns. Money columns are USD per 1 % move of the underlying."""

    spot: float
    spot_source: str                 # 'given' or 'forward:<expiry>' (front forward discounted)
    total: float                     # net GEX of the chain (calls + puts, signed)
    total_abs: float                 # sum of |GEX| over options
    zero_gamma: float | None         # the profile's sign change nearest the spot; None if none in range
    zero_gamma_levels: list          # every sign change in the profile range
    per_strike: pd.DataFrame         # strike, call_gex, put_gex, net_gex, abs_gex, call_oi, put_oi
    profile: pd.DataFrame            # spot, net_gex, call_gex, put_gex
    forwards: pd.DataFrame           # expiry, expiry_ns, T, forward, source, parity_strikes
    rows: pd.DataFrame               # the options priced, with T, forward, iv, iv_source, gamma, gex
    set_aside: pd.DataFrame          # the rows not priced, with their reason
    counts: dict
    settings: dict = field(default_factory=dict)

    def top_strikes(self, n: int = 10, by: str = "abs_gex") -> pd.DataFrame:
        """The ``n`` strikes with the largest ``|by|``."""
        ps = self.per_strike
        return ps.loc[ps[by].abs().sort_values(ascending=False, kind="stable").index[:n]]

    def summary(self) -> dict:
        """JSON-ready: totals, zero gamma, forwards, counts and settings (no per-row tables)."""
        fw = self.forwards.assign(expiry=self.forwards["expiry"].astype(str))
        return {"spot": self.spot, "spot_source": self.spot_source, "total": self.total,
                "total_abs": self.total_abs, "zero_gamma": self.zero_gamma,
                "zero_gamma_levels": self.zero_gamma_levels, "counts": self.counts, "settings": self.settings,
                "forwards": fw.to_dict(orient="records")}


def _signs(dealer) -> tuple[float, float]:
    if isinstance(dealer, str):
        if dealer not in DEALERS:
            raise frame.ChainError(f"dealer: expected one of {sorted(DEALERS)} or (call_sign, put_sign), got {dealer!r}")
        return DEALERS[dealer]
    try:
        c, p = (float(x) for x in dealer)
    except (TypeError, ValueError):
        raise frame.ChainError(f"dealer: expected a name or (call_sign, put_sign), got {dealer!r}") from None
    return c, p


def _multiplier(multiplier, chain: pd.DataFrame) -> np.ndarray:
    if multiplier is None:
        raise frame.ChainError("multiplier: required, no default (SPX and US equity options 100, ES options 50)")
    m = chain["multiplier"].to_numpy(float) if isinstance(multiplier, str) and multiplier == "column" \
        else np.broadcast_to(np.asarray(multiplier, float), (len(chain),))
    bad = ~(np.isfinite(m) & (m > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise frame.ChainError(f"multiplier: must be > 0, got {m[i]!r} (row {chain.index[i]!r})")
    return m


def _smile_sigma(expiry, K, F, sigma):
    """Sticky moneyness: per-row scale -> the IV the row's expiry had at the same K / F."""
    groups = []
    for e in np.unique(expiry):
        m = np.flatnonzero(expiry == e)
        x = np.log(K[m] / F[m])
        order = np.argsort(x, kind="stable")
        xs, ys = x[order], sigma[m][order]
        xu, inv = np.unique(xs, return_inverse=True)
        yu = np.bincount(inv, weights=ys) / np.bincount(inv)      # one vol per strike (call/put mean)
        groups.append((m, xu, yu))

    def sigma_at(scale):
        out = np.empty(len(K))
        for m, xu, yu in groups:
            out[m] = np.interp(np.log(K[m] / (F[m] * scale[m])), xu, yu)
        return out
    return sigma_at


def chain_gex(chain: pd.DataFrame, *, multiplier, spot: float | None = None, forwards=None, rate: float = 0.0,
              div_yield: float = 0.0, asof=None, day_count="ACT/365", expiry_time: str = "16:00",
              tz: str = "America/New_York", dealer="long_calls_short_puts", sticky: str = "strike",
              profile_range: float = 0.10, profile_points: int = 201, levels=None,
              share_otm_iv: bool = True, iv_fallback=None) -> ChainGex:
    """Dealer GEX of an option chain (see the module docstring and ``docs/gex.md``).

    chain: tidy frame, one row per option (``frame`` lists the columns). ``multiplier``: a
    number, an array per row, or ``"column"``; required. ``forwards``: {expiry: F} overriding
    parity/carry (also a ``forward`` column). ``asof``: the valuation time (defaults to
    ``chain.attrs['asof']``). IV: the ``iv`` column where usable (> 0), else inverted from the
    mid with Black-76; with ``share_otm_iv`` an inverted option takes the out-of-the-money
    option's IV at its strike and expiry. ``iv_fallback``: None (default) sets rows without a
    usable IV aside; ``"median"`` gives them the median usable IV of the chain (the options
    stage's fallback for an option that never inverted), a number gives them that vol.
    Rows that cannot be priced are set aside with a reason.
    """
    if sticky not in STICKY:
        raise frame.ChainError(f"sticky: expected one of {STICKY}, got {sticky!r}")
    for name, v in (("rate", rate), ("div_yield", div_yield)):
        if not np.isfinite(float(v)):
            raise frame.ChainError(f"{name}: must be finite, got {v!r}")
    if spot is not None and not (float(spot) > 0 and np.isfinite(float(spot))):
        raise frame.ChainError(f"spot: must be > 0, got {spot!r}")
    if not (0 < profile_range < 1) or int(profile_points) < 3:
        raise frame.ChainError(f"profile_range in (0, 1) and profile_points >= 3, got {profile_range}, {profile_points}")
    call_sign, put_sign = _signs(dealer)
    basis = frame.year_basis(day_count)
    asof_ns = frame.timestamp_ns(asof if asof is not None else chain.attrs.get("asof"), tz)
    if spot is None and chain.attrs.get("spot") is not None:
        spot = float(chain.attrs["spot"])
    mult = _multiplier(multiplier, chain)
    a = frame.read_chain(chain, asof_ns, basis, expiry_time, tz)
    n = len(chain)
    mid = frame.two_sided_mid(a.bid, a.ask)
    given = a.forward.copy()
    if forwards is not None:
        fmap = {frame.expiry_ns(pd.Series([k]), expiry_time, tz)[0]: float(v) for k, v in dict(forwards).items()}
        given = np.where(np.isfinite(given), given, [fmap.get(e, np.nan) for e in a.expiry_ns])
    live = a.reason == ""
    # quotes count for parity and for the IV shared at a strike whatever the open interest
    priceable = np.isin(a.reason, ("", "no_open_interest"))
    T_live = np.where(priceable, a.T, np.nan)
    fw = forwards_per_expiry(a.expiry_ns, T_live, a.strike, a.is_call, mid, given, spot, rate, div_yield)
    spot_source = "given"
    if spot is None:
        have = fw[np.isfinite(fw["forward"])]
        if not len(have):
            raise frame.ChainError("spot: not given, and no expiry has a forward (no 'forward', no call/put quote "
                                   "pairs for parity); pass spot=")
        front = have.iloc[int(np.argmin(have["T"].to_numpy()))]
        spot = float(front["forward"] * np.exp(-(rate - div_yield) * front["T"]))
        spot_source = f"forward:{pd.Timestamp(int(front['expiry_ns']), tz='UTC')}"
        fw = forwards_per_expiry(a.expiry_ns, T_live, a.strike, a.is_call, mid, given, spot, rate, div_yield)
    F = pd.Series(fw["forward"].to_numpy(), index=fw["expiry_ns"].to_numpy()).reindex(a.expiry_ns).to_numpy(float)

    sigma, iv_source, col_ok = _implied_vols(a, mid, F, priceable, rate, share_otm_iv, iv_fallback)
    no_iv = live & ~np.isfinite(sigma)
    no_price = no_iv & ~np.isfinite(mid) & ~np.isfinite(a.iv)
    a.reason[no_price] = "no_price"
    a.reason[no_iv & ~no_price] = "no_iv"
    use = a.reason == ""

    signs = np.where(a.is_call, call_sign, put_sign)
    w = (signs * a.oi * mult * 0.01)[use]
    K, T, Fu, su, calls = a.strike[use], a.T[use], F[use], sigma[use], a.is_call[use]
    g = black76.gamma(Fu, K, T, su, rate)
    gex = w * g * Fu ** 2

    src = chain.index[use]
    rows = pd.DataFrame({"strike": K, "expiry_ns": a.expiry_ns[use], "type": np.where(calls, "C", "P"),
                         "open_interest": a.oi[use], "multiplier": mult[use], "T": T, "forward": Fu, "iv": su,
                         "iv_source": iv_source[use], "gamma": g, "gex": gex}, index=src)
    per = pd.DataFrame({"strike": K, "call_gex": np.where(calls, gex, 0.0), "put_gex": np.where(calls, 0.0, gex),
                        "abs_gex": np.abs(gex), "call_oi": np.where(calls, a.oi[use], 0.0),
                        "put_oi": np.where(calls, 0.0, a.oi[use])}).groupby("strike", sort=True).sum().reset_index()
    per.insert(3, "net_gex", per["call_gex"] + per["put_gex"])

    # profile over spot levels
    lv = np.asarray(levels, float) if levels is not None else spot * np.linspace(1 - profile_range, 1 + profile_range,
                                                                                  int(profile_points))
    if not (len(lv) >= 2 and np.all(lv > 0) and np.all(np.diff(lv) > 0)):
        raise frame.ChainError("levels: need at least 2 positive, increasing underlying levels")
    sigma_at = _smile_sigma(a.expiry_ns[use], K, Fu, su) if sticky == "moneyness" else None
    profile_df, root, crossings = _profile(lv / spot, Fu, K, T, su, w, calls, rate, sigma_at)
    profile_df.insert(0, "spot", lv)

    fw = fw.assign(expiry=pd.to_datetime(fw["expiry_ns"], utc=True).dt.tz_convert(tz))
    fw = fw[["expiry", "expiry_ns", "T", "forward", "source", "parity_strikes"]]
    set_aside = chain.loc[~use].assign(reason=a.reason[~use])
    reasons = {r: int((a.reason == r).sum()) for r in frame.REASONS}
    counts = {"rows": n, "priced": int(use.sum()), "set_aside": int((~use).sum()), "reasons": reasons,
              "iv": {"from_column": int((use & col_ok).sum()), "inverted": int((use & (iv_source == "mid")).sum()),
                     "fallback": int((use & (iv_source == "fallback")).sum()),
                     "no_usable_iv": reasons["no_price"] + reasons["no_iv"]},
              "forwards": {s: int((fw["source"] == s).sum()) for s in ("given", "parity", "carry", "none")}}
    settings = {"multiplier": float(mult[0]) if n and np.all(mult == mult[0]) else "per row", "rate": float(rate),
                "div_yield": float(div_yield), "asof": str(pd.Timestamp(asof_ns, tz="UTC")),
                "day_count": day_count if isinstance(day_count, str) else float(day_count),
                "expiry_time": expiry_time, "tz": tz, "dealer": dealer if isinstance(dealer, str) else list(dealer),
                "sticky": sticky, "share_otm_iv": bool(share_otm_iv), "iv_fallback": iv_fallback}
    return ChainGex(spot=float(spot), spot_source=spot_source, total=float(gex.sum()), total_abs=float(np.abs(gex).sum()),
                    zero_gamma=float(root * spot) if np.isfinite(root) else None,
                    zero_gamma_levels=[float(c * spot) for c in crossings], per_strike=per, profile=profile_df,
                    forwards=fw.reset_index(drop=True), rows=rows, set_aside=set_aside, counts=counts,
                    settings=settings)


def _implied_vols(a: frame.ChainArrays, mid, F, priceable, rate, share_otm_iv, iv_fallback):
    """(sigma, source per row, column usable): the ``iv`` column where > 0, else the mid
    inverted with Black-76 (OTM-shared), else the fallback; NaN where none applies."""
    col_ok = np.isfinite(a.iv) & (a.iv > 0)
    inv, _status = black76.implied_vol(np.where(priceable, mid, np.nan), np.where(priceable, F, np.nan), a.strike,
                                       np.where(priceable, a.T, np.nan), a.is_call, rate)
    share = None
    if share_otm_iv:
        from marketphys.pipeline.silver_options import otm_iv

        share = (np.zeros(len(a.strike), np.int64), a.strike, a.expiry_ns, a.is_call, a.strike >= F)
        inv = otm_iv(*share, inv)
    inv_ok = np.isfinite(inv) & (inv > 0)
    sigma = np.where(col_ok, a.iv, np.where(inv_ok, inv, np.nan))
    source = np.where(col_ok, "column", np.where(inv_ok, "mid", "")).astype(object)
    need = (a.reason == "") & ~np.isfinite(sigma)
    fb = _fallback(iv_fallback, sigma[priceable & np.isfinite(sigma)])
    if fb is not None and need.any():
        # as the options stage: fill, then share at the strike again, so an in-the-money option
        # whose out-of-the-money partner only had the fallback takes that, not its own mid's vol
        filled = np.where(inv_ok | ~priceable, inv, fb)
        if share is not None:
            filled = otm_iv(*share, filled)
        took = ~col_ok & (a.reason == "") & np.isfinite(filled) & ~(inv_ok & (filled == inv))
        sigma = np.where(col_ok, a.iv, filled)
        source[took] = "fallback"
    return sigma, source, col_ok


def _profile(scales, F, K, T, sigma, w, calls, rate, sigma_at):
    """(profile frame without the level column, root scale nearest 1 or NaN, every root scale)."""
    grp = np.zeros(len(K), np.int64)
    parts = {}
    for name, m in (("call_gex", calls), ("put_gex", ~calls)):
        parts[name] = prof.profile(grp[m], 1, scales, F[m], K[m], T[m], sigma[m], w[m], rate,
                                   None if sigma_at is None else _restrict(sigma_at, m))[0]
    net = parts["call_gex"] + parts["put_gex"]
    root = prof.zero_gamma(grp, 1, scales, net[None, :], F, K, T, sigma, w, rate, sigma_at)[0]
    crossings = _all_crossings(scales, net, F, K, T, sigma, w, rate, sigma_at)
    return pd.DataFrame({"net_gex": net, "call_gex": parts["call_gex"], "put_gex": parts["put_gex"]}), root, crossings


def _fallback(policy, usable: np.ndarray) -> float | None:
    if policy is None:
        return None
    if isinstance(policy, str):
        if policy != "median":
            raise frame.ChainError(f"iv_fallback: expected None, 'median' or a vol, got {policy!r}")
        return float(np.median(usable)) if len(usable) else None
    v = float(policy)
    if not (0 < v < black76.IV_HI):
        raise frame.ChainError(f"iv_fallback: a vol must be in (0, {black76.IV_HI}), got {policy!r}")
    return v


def _restrict(sigma_at, m):
    def f(scale):
        full = np.ones(len(m))
        full[m] = scale
        return sigma_at(full)[m]
    return f


def _all_crossings(scales, net, F, K, T, sigma, w, r, sigma_at) -> list:
    """Every sign change of the profile, each refined on the exact profile."""
    out = []
    grp = np.zeros(len(K), np.int64)
    for j in np.flatnonzero(np.sign(net[:-1]) * np.sign(net[1:]) < 0):
        sub = np.array([scales[j], scales[j + 1]])
        root = prof.zero_gamma(grp, 1, sub, net[None, j:j + 2], F, K, T, sigma, w, r, sigma_at)[0]
        out.append(float(root))
    return out
