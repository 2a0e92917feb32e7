"""Instrument accounting: every instrument id an MBO file holds, what it is, and what the build did with it.

A futures file may hold several outrights (expiries), spreads, options or ids its symbology
does not map; the futures book is built for one outright per file. Nothing is dropped
without a word: ``InstrumentTally`` counts records per id as chunks stream past, and
``instrument_lines`` gives the build summary one line per id (options: one line per product).
Classes come from the definitions when the day has them, else from the symbol.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = {"F": "future", "C": "call", "P": "put", "S": "spread", "B": "bond", "K": "stock", "X": "fx",
               "M": "mixed spread", "T": "future spread"}


def is_option_symbol(sym: str) -> bool:
    """'ESM4 P5230', 'ES.OPT' -> True; 'ESM4', 'ESM4-ESU4', 'ES.FUT' -> False."""
    s = sym.strip()
    return s.endswith(".OPT") or " " in s


def symbol_kinds(symbols) -> set[str]:
    """The MBO kinds a file's symbols cover: {'future_mbo'}, {'option_mbo'} or both (a mixed file)."""
    syms = [s for s in symbols if s]
    opts = {is_option_symbol(s) for s in syms}
    if not syms:
        return {"future_mbo"}
    return {"option_mbo" if o else "future_mbo" for o in opts}


class InstrumentTally:
    """Records per instrument id, counted chunk by chunk: a compare pass per id while a file has few,
    else one bincount over the chunk's id range (a sort only when the ids are spread far apart)."""

    def __init__(self):
        self.counts: dict[int, int] = {}

    def add(self, chunk: np.ndarray) -> None:
        iid = np.ascontiguousarray(chunk["instrument_id"])
        if not len(iid):
            return
        if 0 < len(self.counts) <= 8:
            known = list(self.counts)
            c = [int(np.count_nonzero(iid == k)) for k in known]
            if sum(c) == len(iid):
                for k, n in zip(known, c):
                    self.counts[k] += n
                return
        lo, hi = int(iid.min()), int(iid.max())
        if hi - lo < 1 << 16:
            c = np.bincount(iid - np.uint32(lo), minlength=hi - lo + 1)
            nz = np.flatnonzero(c)
            ids, n = nz + lo, c[nz]
        else:
            ids, n = np.unique(iid, return_counts=True)
        for k, m in zip(ids.tolist(), n.tolist()):
            self.counts[k] = self.counts.get(k, 0) + m

    def as_dict(self) -> dict[int, int]:
        return dict(self.counts)


def classify(iid: int, mappings: dict[int, str], definitions: dict[int, tuple[str, str]] | None) -> tuple[str, str]:
    """(symbol, class name) of one id: the definition's, else the symbology's, else ('', 'unmapped')."""
    if definitions and iid in definitions:
        sym, cls = definitions[iid]
        return sym, CLASS_NAMES.get(cls, cls or "unknown")
    sym = mappings.get(iid, "")
    if not sym:
        return "", "unmapped"
    if is_option_symbol(sym):
        return sym, "option"
    return sym, "spread" if "-" in sym else "future"


def futures_file_lines(name: str, counts: dict[int, int], mappings: dict[int, str], definitions, built: int | None,
                       product: str | None) -> list[str]:
    """One line per instrument of a futures MBO file, most records first, saying what was done with it."""
    out = []
    for iid, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        sym, cls = classify(iid, mappings, definitions)
        label = f"{iid} {sym} ({cls})" if sym else f"{iid} ({cls})"
        if iid == built:
            what = f"futures surfaces of {product}"
        elif cls == "unmapped":
            what = "ignored: no symbol in the file's symbology nor a definition"
        elif cls in ("call", "put", "option"):
            what = "options (read by the options stage when the day has definitions and statistics)"
        elif cls in ("spread", "future spread", "mixed spread"):
            what = "ignored: spreads are not built"
        else:
            what = "not built: one outright per file (the most active); give it its own file to build it"
        out.append(f"instrument {label} in {name}: {n:,} records -> {what}")
    return out


def options_lines(name: str, counts: dict[int, int], chain_ids: set[int] | None) -> list[str]:
    """A line per options file: how many of its instruments the options chain (the definitions) covers."""
    total = sum(counts.values())
    if chain_ids is None:
        return [f"options in {name}: {len(counts):,} instruments, {total:,} records -> bronze only "
                f"(no definitions + statistics that day for the options surfaces)"]
    known = [i for i in counts if i in chain_ids]
    unknown = sorted(i for i in counts if i not in chain_ids)
    line = (f"options in {name}: {len(known):,} instruments in the chain, "
            f"{sum(counts[i] for i in known):,} records -> options surfaces")
    if unknown:
        line += (f"; {len(unknown):,} ids not options in the definitions, {sum(counts[i] for i in unknown):,} "
                 f"records -> not in the options surfaces (e.g. {', '.join(map(str, unknown[:5]))})")
    return [line]
