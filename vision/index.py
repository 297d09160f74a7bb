"""1:N watchlist index: exact Euclidean face distance over 100k+ encodings with one mat-vec product.

dlib encodings are NOT unit length (norms ~1.36-1.52 on the shared photos), so the index does not
normalise. It keeps a dense float32 matrix E (rows = entries) and the row norms ||e||^2, and ranks
by ||e||^2 - 2 e.q (||q||^2 is constant per query): one matrix-vector product (done in row blocks,
see _BLOCK_ROWS), one add and an np.argpartition. The few candidates kept are then re-scored exactly in float64, so a reported
distance equals face_recognition.face_distance to ~1e-7 (float32 storage), and the strict
threshold is applied to that exact value.

1:N needs a stricter threshold than 1:1 (0.6): with 100k entries, 0.6 yields many false
candidates, so the default is 0.5 and every hit goes to human review.

Entries are keyed by entry_id (one encoding each; add replaces). Removal swaps the last row into
the hole, so add/remove are O(1) amortised and the matrix stays dense. A lock makes search safe
against a concurrent sync applied from another thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eventguard.codes import WatchSeverity

ENCODING_DIM = 128
DEFAULT_THRESHOLD = 0.5
_CANDIDATE_SLACK = 1e-3  # float32 ranking error is ~1e-6 in d^2; keep borderline candidates
# Mat-vec in row blocks: OpenBLAS runs a product this small on one thread. One 100k x 128 product
# is split over both cores, and when the other core is busy (dlib in the executor, other
# services) it stalls: measured 1.1 ms idle but 8-20 ms under load, against ~2.2 ms (p90 ~3 ms)
# for 2048-row blocks under the same load. 4096-row blocks are threaded again (stalls to 200 ms).
_BLOCK_ROWS = 2048




@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watched face: id, the list it belongs to, severity and its 128-d encoding."""

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


def _as_encoding(enc: npt.ArrayLike) -> npt.NDArray[np.float64]:
    v = np.asarray(enc, dtype=np.float64)
    if v.shape != (ENCODING_DIM,):
        raise ValueError(f"encoding must have shape ({ENCODING_DIM},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("encoding contains NaN or infinity")
    return v


class WatchlistIndex:
    """In-memory 1:N index of watchlist encodings; see the module docstring for the method."""

    def __init__(self, entries: Iterable[WatchEntry] = (), *, version: int = 0) -> None:
        self._lock = threading.Lock()
        self._mat = np.empty((0, ENCODING_DIM), dtype=np.float32)
        self._sqn = np.empty(0, dtype=np.float32)
        self._n = 0
        self._ids: list[str] = []
        self._lists: list[str] = []
        self._sev: list[WatchSeverity] = []
        self._row: dict[str, int] = {}
        self.version = version
        for e in entries:
            self._add(e.entry_id, e.list_id, WatchSeverity(e.severity), _as_encoding(e.encoding))

    @classmethod
    def from_arrays(
        cls,
        entry_ids: Sequence[str],
        list_ids: Sequence[str],
        severities: Sequence[WatchSeverity | str],
        encodings: npt.ArrayLike,
        *,
        version: int = 0,
    ) -> WatchlistIndex:
        """Bulk build (a full sync): arrays aligned by row; entry_ids must be unique."""
        mat = np.array(encodings, dtype=np.float32, copy=True, ndmin=2)
        n = len(entry_ids)
        if mat.shape != (n, ENCODING_DIM) or len(list_ids) != n or len(severities) != n:
            raise ValueError(f"expected {n} aligned rows of {ENCODING_DIM}, got matrix {mat.shape}")
        if not np.all(np.isfinite(mat)):
            raise ValueError("encodings contain NaN or infinity")
        row = {eid: i for i, eid in enumerate(entry_ids)}
        if len(row) != n:
            raise ValueError("entry_ids are not unique")
        idx = cls(version=version)
        idx._mat = mat
        idx._sqn = np.einsum("ij,ij->i", mat, mat, dtype=np.float32)
        idx._n = n
        idx._ids = list(entry_ids)
        idx._lists = list(list_ids)
        idx._sev = [WatchSeverity(s) for s in severities]
        idx._row = row
        return idx

    def __len__(self) -> int:
        return self._n

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._row

    def _add(
        self, entry_id: str, list_id: str, severity: WatchSeverity, enc: npt.NDArray[np.float64]
    ) -> None:
        row = self._row.get(entry_id)
        if row is None:
            if self._n == self._mat.shape[0]:
                cap = max(16, 2 * self._mat.shape[0])
                mat = np.empty((cap, ENCODING_DIM), dtype=np.float32)
                mat[: self._n] = self._mat[: self._n]
                sqn = np.empty(cap, dtype=np.float32)
                sqn[: self._n] = self._sqn[: self._n]
                self._mat, self._sqn = mat, sqn
            row = self._n
            self._n += 1
            self._ids.append(entry_id)
            self._lists.append(list_id)
            self._sev.append(severity)
            self._row[entry_id] = row
        else:
            self._lists[row] = list_id
            self._sev[row] = severity
        self._mat[row] = enc
        r = self._mat[row]
        self._sqn[row] = np.dot(r, r)

    def _remove(self, entry_id: str) -> bool:
        row = self._row.pop(entry_id, None)
        if row is None:
            return False
        last = self._n - 1
        if row != last:
            self._mat[row] = self._mat[last]
            self._sqn[row] = self._sqn[last]
            self._ids[row] = self._ids[last]
            self._lists[row] = self._lists[last]
            self._sev[row] = self._sev[last]
            self._row[self._ids[row]] = row
        self._ids.pop()
        self._lists.pop()
        self._sev.pop()
        self._n = last
        return True

    def add(self, entry: WatchEntry) -> None:
        """Insert an entry, or replace the one with the same entry_id."""
        enc = _as_encoding(entry.encoding)
        with self._lock:
            self._add(entry.entry_id, entry.list_id, WatchSeverity(entry.severity), enc)

    def remove(self, entry_id: str) -> bool:
        """Drop an entry; False when it was not present."""
        with self._lock:
            return self._remove(entry_id)

    def apply(
        self, version: int, *, add: Iterable[WatchEntry] = (), remove: Iterable[str] = ()
    ) -> bool:
        """Apply an incremental sync (removals, then additions) if `version` is newer.

        A replayed or out-of-order sync (version <= current) changes nothing and returns False.
        Encodings are validated before anything changes, so a bad sync leaves the index intact.
        """
        adds = [
            (e.entry_id, e.list_id, WatchSeverity(e.severity), _as_encoding(e.encoding)) for e in add
        ]
        removes = list(remove)
        with self._lock:
            if version <= self.version:
                return False
            for eid in removes:
                self._remove(eid)
            for eid, lid, sev, enc in adds:
                self._add(eid, lid, sev, enc)
            self.version = version
            return True

    def search(
        self,
        encoding: npt.ArrayLike,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        top_k: int = 3,
        margin: float = 0.0,
    ) -> list[WatchHit]:
        """Entries with distance <= threshold, best first, at most top_k.

        A hit is `ambiguous` when another entry (hit or not) lies less than `margin` further or
        nearer than it; for the best hit that is the second-best entry. margin=0 disables it.
        """
        q64 = _as_encoding(encoding)
        if top_k <= 0:
            return []
        with self._lock:
            n = self._n
            if n == 0:
                return []
            mat = self._mat[:n]
            # rank by ||e||^2 - 2 e.q; ||q||^2 is added back for the exact float64 re-score
            q2 = (q64 * -2.0).astype(np.float32)
            scores = np.empty(n, dtype=np.float32)
            for s in range(0, n, _BLOCK_ROWS):
                np.dot(mat[s : s + _BLOCK_ROWS], q2, out=scores[s : s + _BLOCK_ROWS])
            scores += self._sqn[:n]
            k = min(n, top_k + 1)  # one extra: the neighbour that decides `ambiguous`
            cand = np.argpartition(scores, k - 1)[:k] if k < n else np.arange(n)
            qn = float(q64 @ q64)
            lim = (threshold + _CANDIDATE_SLACK) ** 2 - qn
            if float(scores[cand].min()) > lim:  # nothing can be under the threshold
                return []
            rows = mat[cand].astype(np.float64)
            dist = np.sqrt(np.maximum(0.0, ((rows - q64) ** 2).sum(axis=1)))
            order = np.argsort(dist, kind="stable")
            cand, dist = cand[order], dist[order]
            meta = [(self._ids[i], self._lists[i], self._sev[i]) for i in cand.tolist()]
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
