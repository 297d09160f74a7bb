"""1:N watchlist index: the nearest faces among up to millions of encodings, exactly re-scored.

Two engines' conventions (`metric`): dlib encodings are compared by Euclidean distance and are
NOT unit length (norms ~1.3-1.6), so they are stored as given; SFace embeddings are compared by
cosine, so they are stored normalised and a distance is 1 - cosine similarity. Either way
WatchHit.distance is a distance (lower = more alike) and both rank by squared Euclidean distance
of the stored rows, which for unit rows orders like cosine.

Storage: float32 rows E (one row, or slot, per entry; in blocks of 65,536 so that growing never
copies more than one block) with the squared row norms. Two ways to find candidates, then one
exact step:
- exact (fewer than `coarse_min` live entries, default 50,000; or search(exact=True)): rank all
  rows by ||e||^2 - 2 e.q, one matrix-vector product in row blocks (see _BLOCK_ROWS) and an
  np.argpartition;
- coarse (from `coarse_min` entries up): a faiss product-quantisation fast-scan index over the
  same slots (PQ{dim/2}x4fs: two dimensions per 4-bit sub-quantiser, 32 bytes per 128-d entry)
  returns the `candidates` (default 1,024) nearest by approximate distance. Measured on real LFW
  embeddings among 1M synthetic look-alikes (`eventguard bench screening`) it holds the exact
  top-1 for 99.98-100% of probes at p50 3-8 ms, p95 3-15 ms on 2 busy cores, where a full scan
  of 1M rows takes 48-106 ms (numpy float32) or 20-30 ms (faiss 8-bit SQ).
The kept candidates are re-scored exactly in float64 from the float32 rows, so a reported
distance equals face_recognition.face_distance (or 1 - cosine) to ~1e-7 and the strict
threshold is applied to that exact value. A miss of the coarse stage can only lose a hit, never
invent one.

Several queries at once (`search_many`: the frames of one person at the gate) take one faiss
call — the fast scan reads the codes once for up to 11 queries: 2.8 ms for two queries at 1M
against 2 x 2.0 ms — or one pass over the rows, then one gather and one float64 re-score of all
their candidates. A row's answer is the one `search` gives for that query alone, to the bit:
faiss quantises each query's table on its own, the exact scan re-scores every row within
_RANK_SLACK of a query's k-th best float32 score (float32 products differ in their last bits
between one and several query columns), and the re-score sums each row with its own query
elementwise (a BLAS product's rounding depends on the shapes). Equal distances rank by slot.

Entries are keyed by entry_id (one encoding each; add replaces). Adding appends a slot (and its
PQ code): ~15 us. Removing marks the slot dead: ~3 us. Dead slots are skipped, and dropped by a
rebuild once they are a quarter of the slots; the PQ codebooks are trained on a sample of the
entries when the coarse stage starts and again whenever the list has grown 4x since. A rebuild
comes after 250,000 removals or replacements at 1M, or once while a list grows from 200k to 800k.
From `background_min` slots (default 200,000) it runs in a background thread on a snapshot (the
live slots at that moment) while searches and syncs go on against the current structures; the
lock is then taken once to swap it in and replay what changed meanwhile (slots appended,
removed or replaced in place since the snapshot). At 1M entries the build takes 6-12 s, which
used to be spent holding the lock with every search waiting; the swap holds it for milliseconds.
A lock makes search safe against a concurrent sync applied from another thread.

1:N needs a stricter threshold than 1:1: with 100k entries, dlib's 0.6 yields many false
candidates, so the default is 0.5 and every hit goes to human review.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from eventguard.codes import WatchSeverity

log = logging.getLogger(__name__)

ENCODING_DIM = 128
DEFAULT_THRESHOLD = 0.5
_CANDIDATE_SLACK = 1e-3  # float32 ranking error is ~1e-6 in d^2; keep borderline candidates
_RANK_SLACK = 1e-4  # exact scan: rows this near the k-th best float32 score (in d^2) are re-scored too
# Mat-vec in row blocks: OpenBLAS runs a product this small on one thread. One 100k x 128 product
# is split over both cores, and when the other core is busy (dlib in the executor, other
# services) it stalls: measured 1.1 ms idle but 8-20 ms under load, against ~2.2 ms (p90 ~3 ms)
# for 2048-row blocks under the same load. 4096-row blocks are threaded again (stalls to 200 ms).
_BLOCK_ROWS = 2048
COARSE_MIN = 50_000  # live entries from which the PQ fast-scan stage finds the candidates
COARSE_CANDIDATES = 1024  # candidates the PQ stage hands to the exact re-score
_CHUNK_SHIFT = 16  # rows live in blocks of 65,536 (32 MB at 128-d): appending never copies more
_CHUNK = 1 << _CHUNK_SHIFT
_TRAIN_SAMPLE = 65_536  # rows the PQ codebooks are trained on (evenly strided, no randomness)
_DEAD_SHARE = 0.25  # rebuild once this share of the slots are removed or replaced entries
_RETRAIN_GROWTH = 4  # retrain the codebooks once the live count is this many times the trained
BACKGROUND_MIN = 200_000  # slots from which a rebuild runs off the lock, in a background thread


class DistanceMetric(StrEnum):
    """How two encodings give a distance (lower = more alike)."""

    EUCLIDEAN = "euclidean"  # dlib: ||a - b||
    COSINE = "cosine"  # SFace: 1 - a.b / (||a|| ||b||)


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watched face: id, the list it belongs to, severity and its encoding."""

    entry_id: str
    list_id: str
    severity: WatchSeverity
    encoding: npt.NDArray[np.floating]


@dataclass(frozen=True, slots=True)
class WatchHit:
    """A candidate match under the 1:N threshold; `ambiguous` when another entry is within margin."""

    entry_id: str
    list_id: str
    severity: WatchSeverity
    distance: float
    ambiguous: bool


@dataclass(slots=True)
class _Snapshot:
    """What a rebuild starts from: the first n slots as they were (taken under the lock)."""

    n: int
    keep: npt.NDArray[np.intp]  # the slots the rebuilt index holds, ascending
    alive: npt.NDArray[np.bool_]  # which of `keep` were live entries then
    rows: _Rows  # the rows of those n slots (blocks shared, never written below n)
    ids: list[str]
    lists: list[str]
    sevs: list[WatchSeverity]
    coarse: bool
    compact: bool


@dataclass(slots=True)
class _Built:
    """A rebuild made from a _Snapshot, ready to be swapped in."""

    snap: _Snapshot
    rows: _Rows
    ids: list[str]
    lists: list[str]
    sevs: list[WatchSeverity]
    row_of: dict[str, int]  # entry id -> new slot, for every kept slot
    index: Any = None  # the PQ fast-scan index over the kept slots, or None
    dirty: set[int] = field(default_factory=set)


def _faiss() -> Any:
    """faiss, imported on first use (small lists never load it), on one OpenMP thread.

    One query is one thread in faiss anyway; one thread also keeps training and encoding from
    spinning on cores the gate's face workers need (the same reason as _BLOCK_ROWS)."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


class _Rows:
    """float32 rows in blocks of _CHUNK: every block but the last is full, so row s is at
    blocks[s >> _CHUNK_SHIFT][s & (_CHUNK - 1)]. A growing index allocates a new block (or, for
    the first, doubles it up to _CHUNK) instead of copying every row: at 1M rows a single
    reallocation was measured at 1.6-2.8 s under load, with searches waiting."""

    def __init__(self, dim: int, blocks: list[npt.NDArray[np.float32]] | None = None,
                 n: int = 0) -> None:
        self.dim = dim
        self.blocks = blocks or []
        self.n = n

    @classmethod
    def wrap(cls, mat: npt.NDArray[np.float32]) -> _Rows:
        """Rows over `mat` (C-contiguous float32) as views: no copy."""
        return cls(mat.shape[1], [mat[s : s + _CHUNK] for s in range(0, len(mat), _CHUNK)], len(mat))

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    def row(self, s: int) -> npt.NDArray[np.float32]:
        return self.blocks[s >> _CHUNK_SHIFT][s & (_CHUNK - 1)]

    def append(self, v: npt.NDArray[np.floating]) -> int:
        """Store v in a new last row; its number."""
        b, o = divmod(self.n, _CHUNK)
        if b == len(self.blocks):
            self.blocks.append(np.empty((_CHUNK if b else 1024, self.dim), dtype=np.float32))
        elif o == len(self.blocks[b]):  # a short last block (the first, or a bulk load's tail)
            grown = np.empty((min(_CHUNK, max(1024, 2 * o)), self.dim), dtype=np.float32)
            grown[:o] = self.blocks[b][:o]
            self.blocks[b] = grown
        self.blocks[b][o] = v
        self.n += 1
        return self.n - 1

    def used(self) -> list[npt.NDArray[np.float32]]:
        """The used part of each block, in row order (contiguous views)."""
        return [blk[: min(len(blk), self.n - (i << _CHUNK_SHIFT))]
                for i, blk in enumerate(self.blocks) if i << _CHUNK_SHIFT < self.n]

    def take(self, slots: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
        """The rows `slots`, copied into one (len(slots), dim) array, in that order."""
        out = np.empty((len(slots), self.dim), dtype=np.float32)
        blk = slots >> _CHUNK_SHIFT
        for b in np.unique(blk).tolist():
            m = blk == b
            out[m] = self.blocks[b][slots[m] & (_CHUNK - 1)]
        return out

    def compact(self, keep: npt.NDArray[np.intp]) -> _Rows:
        """A new store holding the rows `keep` (ascending), renumbered from 0, block by block."""
        blocks: list[npt.NDArray[np.float32]] = []
        for s in range(0, len(keep), _CHUNK):
            blocks.append(self.take(keep[s : s + _CHUNK]))
        return _Rows(self.dim, blocks, len(keep))


class WatchlistIndex:
    """In-memory 1:N index of watchlist encodings; see the module docstring for the method."""

    def __init__(
        self,
        entries: Iterable[WatchEntry] = (),
        *,
        version: int = 0,
        metric: DistanceMetric | str = DistanceMetric.EUCLIDEAN,
        dim: int = ENCODING_DIM,
        coarse_min: int = COARSE_MIN,
        candidates: int = COARSE_CANDIDATES,
        background_min: int = BACKGROUND_MIN,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        if candidates < 1 or coarse_min < 1:
            raise ValueError("coarse_min and candidates must be positive")
        self.metric = DistanceMetric(metric)
        self.dim = dim
        self.coarse_min = coarse_min
        self.candidates = candidates
        self.background_min = background_min
        self.version = version
        self._lock = threading.Lock()
        self._building: threading.Thread | None = None  # a background rebuild in progress
        self._dirty: set[int] = set()  # slots rewritten in place since its snapshot
        self.rebuilds = 0  # rebuilds swapped in (for tests and figures)
        self.replayed = 0  # slots changed during a background rebuild and replayed at its swap
        self._rows = _Rows(dim)
        self._sqn = np.empty(0, dtype=np.float32)
        self._alive = np.empty(0, dtype=bool)
        self._n = 0  # slots in use, live or dead
        self._live = 0
        self._ids: list[str] = []
        self._lists: list[str] = []
        self._sev: list[WatchSeverity] = []
        self._row: dict[str, int] = {}  # live entries only
        self._coarse: Any = None  # faiss IndexPQFastScan over slots [0, _n), or None
        self._trained_live = 0
        bulk: dict[str, tuple[str, WatchSeverity, npt.NDArray[np.float64]]] = {}
        for e in entries:  # a later entry with the same id replaces an earlier one, like add()
            bulk[e.entry_id] = (e.list_id, WatchSeverity(e.severity), self._check(e.encoding))
        if bulk:
            rows = np.empty((len(bulk), dim), dtype=np.float32)  # not a float64 stack: 1 GB at 1M
            for i, v in enumerate(bulk.values()):
                rows[i] = v[2]
            self._load(list(bulk), [v[0] for v in bulk.values()], [v[1] for v in bulk.values()],
                       rows)

    @classmethod
    def from_arrays(
        cls,
        entry_ids: Sequence[str],
        list_ids: Sequence[str],
        severities: Sequence[WatchSeverity | str],
        encodings: npt.ArrayLike,
        *,
        version: int = 0,
        metric: DistanceMetric | str = DistanceMetric.EUCLIDEAN,
        dim: int = ENCODING_DIM,
        coarse_min: int = COARSE_MIN,
        candidates: int = COARSE_CANDIDATES,
        background_min: int = BACKGROUND_MIN,
    ) -> WatchlistIndex:
        """Bulk build (a full sync): arrays aligned by row; entry_ids must be unique."""
        mat = np.array(encodings, dtype=np.float32, copy=True, ndmin=2)  # float32: 1M rows = 512 MB
        n = len(entry_ids)
        if mat.shape != (n, dim) or len(list_ids) != n or len(severities) != n:
            raise ValueError(f"expected {n} aligned rows of {dim}, got matrix {mat.shape}")
        if not np.all(np.isfinite(mat)):
            raise ValueError("encodings contain NaN or infinity")
        if len(set(entry_ids)) != n:
            raise ValueError("entry_ids are not unique")
        idx = cls(version=version, metric=metric, dim=dim, coarse_min=coarse_min,
                  candidates=candidates, background_min=background_min)
        if n:
            if idx.metric is DistanceMetric.COSINE:
                for s in range(0, n, 65_536):  # norms in float64, a chunk at a time
                    block = mat[s : s + 65_536].astype(np.float64)
                    norms = np.linalg.norm(block, axis=1, keepdims=True)
                    if np.any(norms == 0.0):
                        raise ValueError("a zero encoding has no cosine distance")
                    mat[s : s + 65_536] = block / norms
            idx._load(list(entry_ids), list(list_ids), [WatchSeverity(s) for s in severities],
                      mat)
        return idx

    def __len__(self) -> int:
        return self._live

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._row

    @property
    def coarse(self) -> bool:
        """Whether searches find their candidates with the PQ fast-scan stage."""
        return self._coarse is not None

    def memory(self) -> dict[str, int]:
        """Bytes held by the arrays: float32 rows (with spare capacity), PQ codes, norms and flags.

        Python objects (ids, list ids, the id -> slot map) come on top: ~150-200 B per entry."""
        with self._lock:
            codes = int(self._coarse.codes.size()) if self._coarse is not None else 0
            return {"vectors": self._rows.nbytes, "pq_codes": codes,
                    "norms_flags": int(self._sqn.nbytes + self._alive.nbytes),
                    "slots": self._n, "live": self._live}

    # ---- validation ---------------------------------------------------------------------------

    def _check(self, enc: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """A stored row: the right shape, finite, normalised for cosine."""
        v = np.asarray(enc, dtype=np.float64)
        if v.shape != (self.dim,):
            raise ValueError(f"encoding must have shape ({self.dim},), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("encoding contains NaN or infinity")
        if self.metric is DistanceMetric.COSINE:
            norm = float(np.linalg.norm(v))
            if norm == 0.0:
                raise ValueError("a zero encoding has no cosine distance")
            v = v / norm
        return v

    # ---- storage (callers hold the lock, or own the index alone) ------------------------------

    def _load(
        self, ids: list[str], lists: list[str], sevs: list[WatchSeverity],
        rows: npt.NDArray[np.floating],
    ) -> None:
        mat = np.ascontiguousarray(rows, dtype=np.float32)  # no copy when already float32
        self._rows = _Rows.wrap(mat)
        self._sqn = np.einsum("ij,ij->i", mat, mat, dtype=np.float32)
        self._alive = np.ones(len(ids), dtype=bool)
        self._n = self._live = len(ids)
        self._ids, self._lists, self._sev = ids, lists, sevs
        self._row = {eid: i for i, eid in enumerate(ids)}
        self._coarse = None
        self._maintain(inline=True)  # a bulk load: nobody searches this index yet

    def _grow(self) -> None:
        """Room for more norms and flags (5 bytes a row: copying them is cheap)."""
        cap = max(1024, self._n + (self._n >> 1))
        sqn = np.empty(cap, dtype=np.float32)
        sqn[: self._n] = self._sqn[: self._n]
        alive = np.zeros(cap, dtype=bool)
        alive[: self._n] = self._alive[: self._n]
        self._sqn, self._alive = sqn, alive

    def _add(
        self, entry_id: str, list_id: str, severity: WatchSeverity, row64: npt.NDArray[np.float64]
    ) -> None:
        row = self._row.get(entry_id)
        if row is not None and self._coarse is None:  # no code to invalidate: replace in place
            self._lists[row] = list_id
            self._sev[row] = severity
            if self._building is not None:
                self._dirty.add(row)  # the rebuild copied the old row: replayed at the swap
        else:
            if row is not None:  # its PQ code is stale: retire the slot, append a new one
                self._alive[row] = False
                self._live -= 1
            if self._n == len(self._sqn):
                self._grow()
            row = self._rows.append(row64)
            self._n += 1
            self._live += 1
            self._ids.append(entry_id)
            self._lists.append(list_id)
            self._sev.append(severity)
            self._row[entry_id] = row
            self._alive[row] = True
        r = self._rows.row(row)
        r[:] = row64
        self._sqn[row] = np.dot(r, r)
        if self._coarse is not None:
            self._coarse.add(r[None, :])  # faiss id == slot: both append

    def _remove(self, entry_id: str) -> bool:
        row = self._row.pop(entry_id, None)
        if row is None:
            return False
        self._alive[row] = False
        self._live -= 1
        return True

    def _maintain(self, inline: bool = False) -> None:
        """Drop dead slots, start, retrain or stop the coarse stage when it is time (see docstring)."""
        if self._building is not None:
            return  # the rebuild under way decides again when it is swapped in
        dead = self._n - self._live
        coarse = self._coarse is not None
        want = self._live >= (self.coarse_min // 2 if coarse else self.coarse_min)
        if dead > _DEAD_SHARE * self._n and dead >= 64:
            self._rebuild(want, inline)
        elif want and (not coarse or self._live >= _RETRAIN_GROWTH * self._trained_live):
            self._rebuild(True, inline)
        elif coarse and not want:
            self._coarse = None

    def _rebuild(self, coarse: bool, inline: bool = False) -> None:
        """Compact the live slots in order; with `coarse`, train PQ codebooks and encode them.
        Small indexes rebuild here, under the caller's lock; large ones in a background thread."""
        snap = self._snapshot(coarse)
        if inline or self._n < self.background_min:
            self._swap(self._build(snap))
            return
        self._dirty = set()
        self._building = threading.Thread(target=self._build_in_background, args=(snap,),
                                          name="watchlist-index-rebuild", daemon=True)
        self._building.start()

    def _snapshot(self, coarse: bool) -> _Snapshot:
        """The first n slots as they are now (caller holds the lock; lists are copied, rows shared)."""
        n = self._n
        keep = np.flatnonzero(self._alive[:n])
        compact = len(keep) < n
        return _Snapshot(n=n, keep=keep if compact else np.arange(n), compact=compact, coarse=coarse,
                         alive=self._alive[keep] if compact else self._alive[:n].copy(),
                         rows=_Rows(self.dim, list(self._rows.blocks), n),
                         ids=list(self._ids[:n]), lists=list(self._lists[:n]), sevs=list(self._sev[:n]))

    def _build(self, snap: _Snapshot) -> _Built:
        """The slow part, on the snapshot alone: compact the rows, train and fill the PQ index."""
        rows = snap.rows.compact(snap.keep) if snap.compact else snap.rows
        kept = snap.keep.tolist()
        ids = [snap.ids[i] for i in kept] if snap.compact else snap.ids
        lists = [snap.lists[i] for i in kept] if snap.compact else snap.lists
        sevs = [snap.sevs[i] for i in kept] if snap.compact else snap.sevs
        index = None
        if snap.coarse:
            faiss = _faiss()
            m = self.dim // 2 if self.dim % 2 == 0 else self.dim
            index = faiss.index_factory(self.dim, f"PQ{m}x4fs", faiss.METRIC_L2)
            step = max(1, len(kept) // _TRAIN_SAMPLE)
            index.train(rows.take(np.arange(0, len(kept), step)[:_TRAIN_SAMPLE]))
            for block in rows.used():
                index.add(block)
        live = np.flatnonzero(snap.alive).tolist()
        return _Built(snap=snap, rows=rows, ids=ids, lists=lists, sevs=sevs, index=index,
                      row_of={ids[i]: i for i in live})

    def _build_in_background(self, snap: _Snapshot) -> None:
        try:
            built = self._build(snap)
        except Exception:  # the current structures stay in use; the next change tries again
            log.exception("watchlist index rebuild failed; searching the current index meanwhile")
            with self._lock:
                self._building = None
                self._dirty = set()
            return
        with self._lock:
            built.dirty = self._dirty
            self._building = None
            self._dirty = set()
            self._swap(built)
            self._maintain()

    def _swap(self, b: _Built) -> None:
        """Put a rebuild in place and replay what changed since its snapshot (caller holds the
        lock): slots removed meanwhile die in it, slots appended or rewritten in place meanwhile
        are appended to it (a rewritten slot's copy in the rebuild is stale, so it dies too).
        Nothing here can fail half-way for a reason the build above could not have hit."""
        snap, n1 = b.snap, self._n
        keep = snap.keep
        alive = np.zeros(max(1024, len(keep) + (n1 - snap.n) + len(b.dirty)), dtype=bool)
        alive[: len(keep)] = self._alive[keep]
        sqn = np.zeros(len(alive), dtype=np.float32)
        sqn[: len(keep)] = self._sqn[keep]
        tail = [s for s in range(snap.n, n1) if self._alive[s]]
        replay = sorted(s for s in b.dirty if s < snap.n and self._alive[s])
        if replay:
            pos = np.searchsorted(keep, replay)
            alive[pos] = False
        died = np.flatnonzero(~alive[: len(keep)] & b.snap.alive).tolist()  # meanwhile (or rewritten)
        for p in died:
            if b.row_of.get(b.ids[p]) == p:
                del b.row_of[b.ids[p]]
        new_rows = [self._rows.row(s_).copy() for s_ in (*tail, *replay)]
        n = len(keep)
        for s_, r in zip((*tail, *replay), new_rows, strict=True):
            b.rows.append(r)
            b.ids.append(self._ids[s_])
            b.lists.append(self._lists[s_])
            b.sevs.append(self._sev[s_])
            alive[n] = True
            sqn[n] = np.dot(r, r)
            b.row_of[self._ids[s_]] = n
            n += 1
        if b.index is not None and new_rows:
            b.index.add(np.stack(new_rows))
        self._rows, self._ids, self._lists, self._sev = b.rows, b.ids, b.lists, b.sevs
        self._alive, self._sqn, self._row = alive, sqn, b.row_of
        self._n, self._live = n, int(alive[:n].sum())
        self._coarse = b.index
        self._trained_live = self._live if b.index is not None else 0
        self.rebuilds += 1
        self.replayed += len(tail) + len(died)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until no background rebuild runs (a swap may start the next one); True when
        none is running."""
        end = None if timeout is None else time.monotonic() + timeout
        while (t := self._building) is not None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            t.join(left)
        return True

    # ---- public operations --------------------------------------------------------------------

    def add(self, entry: WatchEntry) -> None:
        """Insert an entry, or replace the one with the same entry_id."""
        row = self._check(entry.encoding)
        with self._lock:
            self._add(entry.entry_id, entry.list_id, WatchSeverity(entry.severity), row)
            self._maintain()

    def remove(self, entry_id: str) -> bool:
        """Drop an entry; False when it was not present."""
        with self._lock:
            found = self._remove(entry_id)
            self._maintain()
            return found

    def apply(
        self, version: int, *, add: Iterable[WatchEntry] = (), remove: Iterable[str] = ()
    ) -> bool:
        """Apply an incremental sync (removals, then additions) if `version` is newer.

        A replayed or out-of-order sync (version <= current) changes nothing and returns False.
        Encodings are validated before anything changes, so a bad sync leaves the index intact.
        """
        adds = [(e.entry_id, e.list_id, WatchSeverity(e.severity), self._check(e.encoding))
                for e in add]
        removes = list(remove)
        with self._lock:
            if version <= self.version:
                return False
            for eid in removes:
                self._remove(eid)
            for eid, lid, sev, row in adds:
                self._add(eid, lid, sev, row)
            self._maintain()
            self.version = version
            return True

    def _check_batch(self, encodings: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """A (k, dim) batch of queries, each row checked (and normalised) exactly as `_check`
        does one: a row of a batch is the same query, to the bit, as that row searched alone."""
        batch = np.asarray(encodings, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (k, {self.dim}), got {batch.shape}")
        return np.stack([self._check(row) for row in batch]) if len(batch) else batch

    def _exact_candidates(
        self, qs: npt.NDArray[np.float64], k: int, threshold: float
    ) -> list[npt.NDArray[np.intp] | None]:
        """For each query, the live slots that can be among its k nearest by a float32 scan of
        every row (one pass over the rows for all queries); None when none can be under threshold.

        A query keeps every row whose float32 score lies within _RANK_SLACK of its k-th best, not
        just k rows: float32 ranking errors (~1e-6, and not the same to the bit when the product
        is computed for one query or for several) then cannot change which rows the exact float64
        re-score sees among the k nearest, so a batch answers exactly as single searches."""
        n, m = self._n, len(qs)
        # rank by ||e||^2 - 2 e.q; ||q||^2 is added back for the exact float64 re-score
        q2t = np.ascontiguousarray((qs * -2.0).astype(np.float32).T)  # (dim, m)
        scores = np.empty((n, m), dtype=np.float32)
        step = max(256, _BLOCK_ROWS // m)  # the product stays small enough for one thread
        base = 0
        for block in self._rows.used():
            for s in range(0, len(block), step):
                part = block[s : s + step]
                np.dot(part, q2t, out=scores[base + s : base + s + len(part)])
            base += len(block)
        scores += self._sqn[:n, None]
        if self._live < n:
            scores[~self._alive[:n]] = np.inf
        kk = min(self._live, k)
        t = threshold + _CANDIDATE_SLACK
        out: list[npt.NDArray[np.intp] | None] = []
        for j in range(m):
            col = np.ascontiguousarray(scores[:, j])
            # the rank score under which a row can be within the threshold: d^2 - ||q||^2 for
            # Euclidean; for unit rows and query ||e - q||^2 = 2 d (cosine distance d), minus 1
            lim = (t * t - float(qs[j] @ qs[j]) if self.metric is DistanceMetric.EUCLIDEAN
                   else 2.0 * t - 1.0)
            kth = float(np.partition(col, kk - 1)[kk - 1]) if kk < n else float(col[np.isfinite(col)].max())
            if float(col.min()) > lim:
                out.append(None)
                continue
            out.append(np.flatnonzero(col <= kth + _RANK_SLACK))
        return out

    def _coarse_candidates(self, qs: npt.NDArray[np.float64]) -> list[npt.NDArray[np.intp]]:
        """For each query, up to `candidates` live slots nearest it by PQ fast-scan distance (dead
        ones skipped), from one faiss call for all queries. faiss quantises each query's lookup
        table on its own and scans the codes in the same order whatever the batch, so a row's
        candidates are those of that query searched alone."""
        n = self._n
        k = min(n, -(-self.candidates * n // max(1, self._live)))  # make up for dead slots
        _, found = self._coarse.search(np.ascontiguousarray(qs, dtype=np.float32), k)
        out = []
        for row in found:
            cand = row[row >= 0]
            out.append(cand[self._alive[cand]])
        return out

    def _distances(
        self, qs: npt.NDArray[np.float64], cands: Sequence[npt.NDArray[np.intp]]
    ) -> list[npt.NDArray[np.float64]]:
        """Exact float64 distances from each query to its candidate rows: one gather (and cast)
        of every candidate row, then each query's rows summed with it elementwise (einsum, no
        BLAS: a BLAS product's rounding can depend on the shapes), so each distance is the same
        number in a batch of any size."""
        sizes = [len(c) for c in cands]
        if not sum(sizes):
            return [np.empty(0, dtype=np.float64) for _ in cands]
        rows = self._rows.take(np.concatenate(cands)).astype(np.float64)
        out = []
        for q, seg in zip(qs, np.split(rows, np.cumsum(sizes)[:-1]), strict=True):
            if self.metric is DistanceMetric.COSINE:
                d = 1.0 - np.einsum("ij,j->i", seg, q) / np.sqrt(np.einsum("ij,ij->i", seg, seg))
            else:
                diff = seg - q
                d = np.sqrt(np.maximum(0.0, np.einsum("ij,ij->i", diff, diff)))
            out.append(np.asarray(d, dtype=np.float64))
        return out

    def search(
        self,
        encoding: npt.ArrayLike,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        top_k: int = 3,
        margin: float = 0.0,
        exact: bool = False,
    ) -> list[WatchHit]:
        """Entries with distance <= threshold, best first, at most top_k.

        A hit is `ambiguous` when another entry (hit or not) lies less than `margin` further or
        nearer than it; for the best hit that is the second-best entry. margin=0 disables it.
        `exact` scans every row even when the coarse stage is on (for audits and measuring).
        Equal distances rank by slot (the older entry first).
        """
        q = self._check(encoding)
        return self._search(q[None, :], threshold, top_k, margin, exact)[0]

    def search_many(
        self,
        encodings: npt.ArrayLike,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        top_k: int = 3,
        margin: float = 0.0,
        exact: bool = False,
    ) -> list[list[WatchHit]]:
        """`search` for every row of a (k, dim) batch (the frames of one person): one faiss call
        (or one pass over the rows) and one exact re-score for all, under one lock, so every row
        sees the same state of the index. Row i's answer equals search(encodings[i])."""
        return self._search(self._check_batch(encodings), threshold, top_k, margin, exact)

    def _search(
        self, qs: npt.NDArray[np.float64], threshold: float, top_k: int, margin: float, exact: bool
    ) -> list[list[WatchHit]]:
        if top_k <= 0 or len(qs) == 0:
            return [[] for _ in qs]
        k = top_k + 1  # one extra: the neighbour that decides `ambiguous`
        with self._lock:
            if self._live == 0:
                return [[] for _ in qs]
            if self._coarse is not None and not exact:
                cands: list[npt.NDArray[np.intp] | None] = list(self._coarse_candidates(qs))
            else:
                cands = self._exact_candidates(qs, k, threshold)
            some = [c if c is not None else np.empty(0, dtype=np.intp) for c in cands]
            found = []
            for cand, dist in zip(some, self._distances(qs, some), strict=True):
                order = np.lexsort((cand, dist))[:k]  # by distance, then by slot
                cand, dist = cand[order], dist[order]
                found.append((dist, [(self._ids[i], self._lists[i], self._sev[i]) for i in cand.tolist()]))
        return [_hits(dist, meta, threshold, top_k, margin) for dist, meta in found]


def _hits(dist: npt.NDArray[np.float64], meta: list[tuple[str, str, WatchSeverity]], threshold: float,
          top_k: int, margin: float) -> list[WatchHit]:
    """The hits among the nearest entries `dist` (ascending, with their id, list and severity)."""
    hits: list[WatchHit] = []
    for j in range(min(top_k, len(dist))):
        d = float(dist[j])
        if d > threshold:
            break
        gap = min(
            d - float(dist[j - 1]) if j > 0 else np.inf,
            float(dist[j + 1]) - d if j + 1 < len(dist) else np.inf,
        )
        eid, lid, sev = meta[j]
        hits.append(WatchHit(eid, lid, sev, d, ambiguous=bool(gap < margin)))
    return hits
