"""`eventguard bench screening`: 1:N watchlist search at 10k-1M entries on real faces.

For each face engine (SFace, cosine, the main case; dlib, Euclidean, for comparison) the LFW
embeddings of the calibration report (vision/calibration_report.py; read from its cache, or
computed once and cached) are split as in the calibration: `enrolled` identities enrolled with
one photo each (the gallery), their other photos are mated probes, photos of everyone else are
non-mated probes. The gallery is padded with synthetic distractors (vision/screening.py: a
Gaussian with the real embeddings' mean and covariance) to each list size, and for each size:

- query time: every probe searched one at a time through WatchlistIndex.search (top 3, as the
  gate does), `repeats` passes, p50/p95/p99 per pass; load averages before and after;
- two frames: the probes in pairs, each pair searched as two `search` calls and as one
  `search_many` (one faiss call, as the gate searches the frames it fuses), alternated, and
  whether the batch's hits equal the single searches' exactly;
- recall: the top-1 entry of `recall_queries` probes against the exact scan (search(exact=True))
  of the same index, whose times are the exact baseline;
- memory: RSS growth while the index is built, and the bytes of its arrays;
- add / remove / replace: single operations on the full index;
- FPIR / FNIR (rank 1): at the threshold that gives FPIR <= `fpir` on the real gallery alone,
  and at the threshold re-chosen for that FPIR at each size; measured with the distractors and
  extrapolated by the binomial model from all real impostor pairs (see vision/screening.py).
"""

from __future__ import annotations

import gc
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from eventguard.codes import WatchSeverity
from vision import calibrate as cal
from vision import screening as scr
from vision.index import COARSE_CANDIDATES, COARSE_MIN, DistanceMetric, WatchEntry, WatchlistIndex

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces-lfw"
SIZES = (10_000, 100_000, 1_000_000)
TAIL_FMRS = (1e-3, 1e-4, 1e-5, 1e-6)
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Faces:
    """Labelled real embeddings of one engine (only photos that gave a face)."""

    engine: str
    metric: DistanceMetric
    labels: list[str]
    embeddings: npt.NDArray[np.float32]
    files: list[str]
    no_face: int = 0


def load_faces(engine: str, folder: Path = LFW, cache_dir: Path | None = None,
               log: Log = _stderr) -> Faces:
    """The calibration report's embeddings of `folder` for `engine` (computed once if not cached)."""
    from vision import calibration_report as report
    from vision.engine import EngineName
    from vision.faceworker import EngineOptions

    eng = report.subject(EngineOptions(EngineName("dlib-numpy" if engine == "dlib" else engine)))
    photos = report.read_labels(folder)
    log(f"{engine}: embeddings of {len(photos):,} photos in {folder} (cached after the first run)")
    ex = report.extract(eng, folder, photos, report.DEFAULT_CACHE if cache_dir is None else cache_dir,
                        lambda i, n: log(f"  {i}/{n} photos") if i % 500 == 0 else None)
    metric = DistanceMetric.COSINE if eng.metric is cal.Metric.COSINE else DistanceMetric.EUCLIDEAN
    labels = [p.person for p, ok in zip(photos, ex.valid, strict=True) if ok]
    files = [p.file for p, ok in zip(photos, ex.valid, strict=True) if ok]
    return Faces(eng.engine_id, metric, labels, np.asarray(ex.embeddings[ex.valid], np.float32),
                 files, int((~ex.valid).sum()))


def _pcts(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)} | {
        "max": round(float(a.max()), 3), "n": int(a.size)}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


def _impostor_distances(faces: Faces) -> npt.NDArray[np.float64]:
    """All different-identity pair distances, ascending."""
    metric = cal.Metric.COSINE if faces.metric is DistanceMetric.COSINE else cal.Metric.NEG_EUCLIDEAN
    s = cal.pair_scores(faces.labels, faces.embeddings, metric).impostor
    d = 1.0 - s if faces.metric is DistanceMetric.COSINE else -s
    d.sort()
    return d


def _closest_impostors(faces: Faces, imp: npt.NDArray[np.float64], count: int = 10
                       ) -> list[dict[str, Any]]:
    """The `count` nearest different-label pairs: where the real tail comes from (label errors?)."""
    if imp.size == 0:
        return []
    limit = float(imp[min(count, imp.size) - 1])
    lab = np.asarray(faces.labels)
    found: list[tuple[float, int, int]] = []
    for s in range(0, len(lab), 512):
        d = scr.distances(faces.embeddings[s : s + 512], faces.embeddings, faces.metric)
        for r, j in zip(*np.nonzero(d <= limit), strict=True):
            i = s + int(r)
            if i < j and lab[i] != lab[j]:
                found.append((float(d[r, j]), i, int(j)))
    found.sort()
    return [{"distance": round(d, 4), "a": faces.files[i], "b": faces.files[j]}
            for d, i, j in found[:count]]


def screen(faces: Faces, *, sizes: Sequence[int] = SIZES, enrolled: int = 1000,
           recall_queries: int = 1000, repeats: int = 3, fpir: float = 0.01, seed: int = 0,
           coarse_min: int = COARSE_MIN, churn: int = 1000, alternatives: bool = False,
           log: Log = _stderr) -> dict[str, Any]:
    """All figures for one engine (see the module docstring)."""
    rng = np.random.default_rng(seed)
    labels, emb, metric = faces.labels, faces.embeddings, faces.metric
    split = cal.open_set_split(labels, enrolled, rng)
    gallery = list(split.gallery)
    person_slot = {labels[i]: k for k, i in enumerate(gallery)}
    mated, non_mated = list(split.mated), list(split.non_mated)
    probes = np.asarray(emb[mated + non_mated], dtype=np.float64)
    n_mated = len(mated)
    mate_slot = np.array([person_slot[labels[i]] for i in mated], dtype=np.int64)
    if any(n < len(gallery) for n in sizes):
        raise ValueError(f"every size must hold the {len(gallery)} enrolled people")

    log(f"{faces.engine}: {len(gallery):,} enrolled, {n_mated:,} mated and {len(non_mated):,} "
        f"non-mated probes; impostor pairs and distractors")
    imp = _impostor_distances(faces)
    closest = _closest_impostors(faces, imp)
    mate_d = np.array([scr.distances(emb[i][None], emb[gallery[s]][None], metric)[0, 0]
                       for i, s in zip(mated, mate_slot, strict=True)])
    model = scr.fit_distractors(emb, metric)
    tail_t = [float(imp[max(0, int(f * len(imp)) - 1)]) for f in TAIL_FMRS if f * len(imp) >= 1]
    sample = scr.draw_distractors(model, 20_000, np.random.default_rng(seed + 1))
    syn_fmr = scr.distractor_fmr(probes, sample, tail_t, metric)
    tail = [{"real_fmr": f, "threshold": round(t, 4), "distractor_fmr": float(f"{s:.3g}")}
            for f, t, s in zip(TAIL_FMRS, tail_t, syn_fmr, strict=False)]
    del sample
    distractors = scr.draw_distractors(model, max(sizes) - len(gallery), rng)
    real = np.asarray(emb[gallery], dtype=np.float32)

    # the real gallery alone: the threshold for the target FPIR, then held fixed
    base = _measure(real, [f"real:{labels[i]}" for i in gallery], metric, probes, n_mated,
                    mate_slot, coarse_min, recall=0, repeats=1, churn=0, log=log)
    t_fixed = scr.threshold_at_fpir(base["nm_top"], fpir)
    rows: list[dict[str, Any]] = [_rates(len(gallery), base, t_fixed, fpir, mate_d, imp, "real only")]
    timing: list[dict[str, Any]] = []
    for n in sorted(sizes):
        mat = np.concatenate([real, distractors[: n - len(gallery)]])
        ids = [f"real:{labels[i]}" for i in gallery] + [f"syn:{j}" for j in range(n - len(gallery))]
        m = _measure(mat, ids, metric, probes, n_mated, mate_slot, coarse_min,
                     recall=recall_queries, repeats=repeats, churn=churn if n == max(sizes) else 0,
                     extra=model, rng=rng, log=log, threshold=t_fixed,
                     alternatives=alternatives and n >= coarse_min)
        del mat, ids
        rows.append(_rates(n, m, t_fixed, fpir, mate_d, imp, "real + distractors"))
        timing.append({k: v for k, v in m.items() if k not in ("nm_top", "m_top", "m_found")})
        gc.collect()
    return {
        "engine": faces.engine, "metric": str(metric),
        "photos_with_face": len(labels), "identities": len(set(labels)), "no_face": faces.no_face,
        "enrolled": len(gallery), "mated_probes": n_mated, "non_mated_probes": len(non_mated),
        "impostor_pairs": int(imp.size), "fpir_target": fpir, "threshold_fixed": round(t_fixed, 4),
        "distractor_tail": tail, "closest_impostor_pairs": closest, "identification": rows,
        "timing": timing,
    }


def _measure(mat: npt.NDArray[np.float32], ids: list[str], metric: DistanceMetric,
             probes: npt.NDArray[np.float64], n_mated: int, mate_slot: npt.NDArray[np.int64],
             coarse_min: int, *, recall: int, repeats: int, churn: int, log: Log,
             extra: scr.DistractorModel | None = None, rng: np.random.Generator | None = None,
             threshold: float = math.inf, alternatives: bool = False) -> dict[str, Any]:
    """Build the index over `mat`, search every probe (timed), then recall, churn and memory."""
    n = len(ids)
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    idx = WatchlistIndex.from_arrays(ids, ["bench"] * n, [WatchSeverity.INFO] * n, mat, version=1,
                                     metric=metric, dim=mat.shape[1], coarse_min=coarse_min)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_delta = _rss() - rss0
    mem = idx.memory()
    log(f"  {n:,} entries: built in {build_s:.1f} s ({'coarse' if idx.coarse else 'exact'})")
    top_ids: list[str] = []
    top_d = np.empty(len(probes))
    passes: list[dict[str, Any]] = []
    load_before = _load()
    for r in range(repeats):
        ms = []
        for j, q in enumerate(probes):
            s = time.perf_counter()
            hits = idx.search(q, threshold=math.inf)
            ms.append((time.perf_counter() - s) * 1e3)
            if r == 0:
                top_ids.append(hits[0].entry_id)
                top_d[j] = hits[0].distance
        passes.append(_pcts(ms))
    load_after = _load()
    pairs = _pairs(idx, probes)
    m_found = np.array([top_ids[j] == ids[mate_slot[j]] for j in range(n_mated)], dtype=bool)
    out: dict[str, Any] = {
        "entries": n, "method": (f"PQ fast scan ({COARSE_CANDIDATES} candidates) + exact float64 "
                                 "re-score") if idx.coarse else "exact float32 scan + float64 re-score",
        "build_s": round(build_s, 2), "query_ms": passes, "load_before": load_before,
        "load_after": load_after, "memory": {**mem, "rss_delta": rss_delta,
                                             "bytes_per_entry": round(rss_delta / n, 1)},
        "nm_top": top_d[n_mated:], "m_top": top_d[:n_mated], "m_found": m_found, "pairs": pairs,
    }
    if recall:
        picks = np.random.default_rng(n).choice(len(probes), min(recall, len(probes)), replace=False)
        same, relevant, relevant_same, ms = 0, 0, 0, []
        exact_ids: list[str] = []
        for j in picks.tolist():
            s = time.perf_counter()
            hits = idx.search(probes[j], threshold=math.inf, exact=True)
            ms.append((time.perf_counter() - s) * 1e3)
            exact_ids.append(hits[0].entry_id)
            ok = hits[0].entry_id == top_ids[j] or hits[0].distance == top_d[j]
            same += ok
            if hits[0].distance <= threshold:
                relevant += 1
                relevant_same += ok
        out["recall"] = {"queries": len(picks), "top1": round(same / len(picks), 5),
                         "queries_with_exact_hit": relevant,
                         "top1_with_exact_hit": round(relevant_same / relevant, 5) if relevant else None,
                         "exact_query_ms": _pcts(ms), "load_after": _load()}
    if churn and extra is not None and rng is not None:
        out["churn"] = _churn(idx, ids, extra, rng, churn)
    del idx
    if alternatives and recall:
        gc.collect()
        out["alternatives"] = _alternatives(mat, ids, metric, probes[picks], exact_ids, log)
    return out


def _pairs(idx: WatchlistIndex, probes: npt.NDArray[np.float64]) -> dict[str, Any]:
    """The probes two by two, as a gate searches the two frames it fuses: two `search` calls
    against one `search_many`, alternated pair by pair (the same load for both), and whether the
    batch gave exactly the single searches' hits (top 4, the gate's k)."""
    two, one, same = [], [], 0
    load_before = _load()
    for j in range(0, len(probes) - 1, 2):
        pair = probes[j : j + 2]
        s = time.perf_counter()
        alone = [idx.search(q, threshold=math.inf, top_k=4) for q in pair]
        two.append((time.perf_counter() - s) * 1e3)
        s = time.perf_counter()
        batch = idx.search_many(pair, threshold=math.inf, top_k=4)
        one.append((time.perf_counter() - s) * 1e3)
        same += batch == alone
    return {"two_searches_ms": _pcts(two), "search_many_ms": _pcts(one), "pairs": len(two),
            "identical": same, "load_before": load_before, "load_after": _load()}


def _alternatives(mat: npt.NDArray[np.float32], ids: list[str], metric: DistanceMetric,
                  queries: npt.NDArray[np.float64], exact_ids: list[str], log: Log
                  ) -> list[dict[str, Any]]:
    """What the choice was weighed against: faiss's exact flat scan and its 8-bit scalar
    quantiser (both read every entry), top-1 recall against our exact scan, on one thread."""
    import faiss

    faiss.omp_set_num_threads(1)  # as the index runs it
    x = mat
    q = queries.astype(np.float32)
    if metric is DistanceMetric.COSINE:  # unit rows: L2 order is cosine order
        x = mat / np.linalg.norm(mat, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    out = []
    for spec, k in (("Flat", 1), ("SQ8", 16)):
        index: Any = faiss.index_factory(x.shape[1], spec, faiss.METRIC_L2)
        t0 = time.perf_counter()
        if not index.is_trained:
            index.train(x[:: max(1, len(x) // 65_536)])
        index.add(x)
        build_s = time.perf_counter() - t0
        ms, same = [], 0
        for j in range(len(q)):
            s = time.perf_counter()
            _, found = index.search(q[j : j + 1], k)
            cand = found[0][found[0] >= 0]
            if k > 1:  # the quantised order is approximate: re-score the k best exactly
                d = ((x[cand].astype(np.float64) - q[j].astype(np.float64)) ** 2).sum(axis=1)
                cand = cand[np.argsort(d, kind="stable")]
            ms.append((time.perf_counter() - s) * 1e3)
            same += ids[int(cand[0])] == exact_ids[j]
        name = f"faiss {spec}" + (f" + exact re-score of {k}" if k > 1 else "")
        out.append({"method": name, "query_ms": _pcts(ms),
                    "top1": round(same / len(q), 5), "code_bytes": len(x) * index.sa_code_size(),
                    "build_s": round(build_s, 2), "load_after": _load()})
        log(f"    {name}: p50 {out[-1]['query_ms']['p50']} ms, top-1 {out[-1]['top1']:.2%}")
        del index
        if x is not mat:
            gc.collect()
    return out


def _churn(idx: WatchlistIndex, ids: list[str], model: scr.DistractorModel,
           rng: np.random.Generator, count: int) -> dict[str, Any]:
    """Single add, remove and replace times on the full index (list sync applies them one by one)."""
    count = min(count, len(ids) // 4)
    new = scr.draw_distractors(model, 2 * count, rng)
    add_ms, rem_ms, rep_ms = [], [], []
    for j in range(count):
        e = WatchEntry(f"new:{j}", "bench", WatchSeverity.INFO, new[j])
        s = time.perf_counter()
        idx.add(e)
        add_ms.append((time.perf_counter() - s) * 1e3)
    victims = rng.choice(len(ids), 2 * count, replace=False).tolist()
    for j in victims[:count]:
        s = time.perf_counter()
        idx.remove(ids[j])
        rem_ms.append((time.perf_counter() - s) * 1e3)
    for k, j in enumerate(victims[count:]):
        e = WatchEntry(ids[j], "bench", WatchSeverity.DENY, new[count + k])
        s = time.perf_counter()
        idx.add(e)
        rep_ms.append((time.perf_counter() - s) * 1e3)
    return {"add_ms": _pcts(add_ms), "remove_ms": _pcts(rem_ms), "replace_ms": _pcts(rep_ms)}


def _rates(n: int, m: dict[str, Any], t_fixed: float, fpir: float,
           mate_d: npt.NDArray[np.float64], imp: npt.NDArray[np.float64], how: str
           ) -> dict[str, Any]:
    fixed = scr.open_set_rates(m["m_top"], m["m_found"], m["nm_top"], t_fixed)
    t_n = scr.threshold_at_fpir(m["nm_top"], fpir)
    at_n = scr.open_set_rates(m["m_top"], m["m_found"], m["nm_top"], t_n)
    t_b = scr.threshold_for_fpir_binomial(imp, n, fpir)
    return {
        "entries": n, "gallery": how,
        "measured": {"fixed_threshold": {"fpir": round(fixed.fpir, 4), "fnir": round(fixed.fnir, 4)},
                     "threshold_for_fpir": round(t_n, 4),
                     "at_that_threshold": {"fpir": round(at_n.fpir, 4), "fnir": round(at_n.fnir, 4)}},
        "binomial": {
            "fixed_threshold": {"fpir": round(scr.fpir_binomial(scr.below(imp, t_fixed), n), 4),
                                "fnir": round(scr.fnir_binomial(mate_d, imp, t_fixed, n), 4)},
            "threshold_for_fpir": None if t_b is None else round(t_b, 4),
            "at_that_threshold": None if t_b is None else {
                "fpir": round(scr.fpir_binomial(scr.below(imp, t_b), n), 4),
                "fnir": round(scr.fnir_binomial(mate_d, imp, t_b, n), 4)},
        },
    }


def run(engines: Sequence[str] = ("sface", "dlib"), *, sizes: Sequence[int] = SIZES,
        enrolled: int = 1000, recall_queries: int = 1000, repeats: int = 3, fpir: float = 0.01,
        seed: int = 0, data: Path = LFW, cache_dir: Path | None = None,
        coarse_min: int = COARSE_MIN, alternatives: bool = False, log: Log = _stderr
        ) -> dict[str, Any]:
    """The report for every engine, with its conditions."""
    out: dict[str, Any] = {"engines": []}
    for engine in engines:
        faces = load_faces(engine, data, cache_dir, log)
        out["engines"].append(screen(faces, sizes=sizes, enrolled=enrolled,
                                     recall_queries=recall_queries, repeats=repeats, fpir=fpir,
                                     seed=seed, coarse_min=coarse_min,
                                     alternatives=alternatives, log=log))
    import faiss

    out["conditions"] = {
        "data": str(data), "cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "faiss": faiss.__version__, "machine": platform.machine(),
        "index": (f"exact below {coarse_min:,} entries; from there faiss PQ fast scan "
                  f"(2 dims per 4-bit sub-quantiser, 1 OpenMP thread) -> {COARSE_CANDIDATES} "
                  "candidates -> exact float64 re-score"),
        "queries": "one at a time, top 3, threshold +inf (every probe returns its nearest)",
        "distractors": "Gaussian with the mean and covariance of all real embeddings of the "
                       "engine (normalised for cosine); see distractor_tail",
        "binomial": "FPIR = 1 - (1 - p(t))^N, p from all real impostor pairs; FNIR from each "
                    "mated probe's mate distance and the impostor rate nearer than it",
        "split": f"open_set_split seed {seed}: one photo per enrolled identity, identities with "
                 "2+ photos first; probes are all other photos",
    }
    return out


def text(report: dict[str, Any]) -> str:
    """The report as lines a person reads."""
    lines: list[str] = []
    for e in report["engines"]:
        lines.append(f"{e['engine']} ({e['metric']} distance): {e['photos_with_face']:,} photos, "
                     f"{e['identities']:,} identities; {e['enrolled']:,} enrolled, "
                     f"{e['mated_probes']:,} mated / {e['non_mated_probes']:,} non-mated probes; "
                     f"{e['impostor_pairs']:,} real impostor pairs")
        lines.append("  distractor tail vs real impostors (share of pairs within the distance): "
                     + "; ".join(f"real {t['real_fmr']:g} at {t['threshold']} -> distractors "
                                 f"{t['distractor_fmr']:g}" for t in e["distractor_tail"]))
        for t in e["timing"]:
            q = t["query_ms"]
            p50s = "/".join(f"{p['p50']:.2f}" for p in q)
            p95s = "/".join(f"{p['p95']:.2f}" for p in q)
            p99s = "/".join(f"{p['p99']:.2f}" for p in q)
            mem = t["memory"]
            lines.append(f"  {t['entries']:>9,} entries [{t['method']}]: query p50 {p50s} ms, "
                         f"p95 {p95s}, p99 {p99s} ({len(q)} passes x {q[0]['n']:,} queries, load "
                         f"{t['load_before']} -> {t['load_after']}); build {t['build_s']} s; "
                         f"RSS +{mem['rss_delta'] / 2**20:.0f} MB ({mem['bytes_per_entry']:.0f} B/entry; "
                         f"vectors {mem['vectors'] / 2**20:.0f} MB, PQ codes "
                         f"{mem['pq_codes'] / 2**20:.0f} MB)")
            if "pairs" in t:
                pr, a, b = t["pairs"], t["pairs"]["two_searches_ms"], t["pairs"]["search_many_ms"]
                lines.append(f"      two frames: 2 searches p50 {a['p50']:.2f} / p95 {a['p95']:.2f} ms, one "
                             f"search_many p50 {b['p50']:.2f} / p95 {b['p95']:.2f} ms; identical hits "
                             f"{pr['identical']:,}/{pr['pairs']:,} pairs (load {pr['load_before']} -> "
                             f"{pr['load_after']})")
            if "recall" in t:
                r = t["recall"]
                x = r["exact_query_ms"]
                lines.append(f"      recall of exact top-1: {r['top1']:.2%} of {r['queries']:,} probes, "
                             f"{r['top1_with_exact_hit'] if r['top1_with_exact_hit'] is None else format(r['top1_with_exact_hit'], '.2%')}"
                             f" of the {r['queries_with_exact_hit']} whose exact top-1 is a hit; exact "
                             f"scan p50 {x['p50']:.2f} / p95 {x['p95']:.2f} / p99 {x['p99']:.2f} ms")
            for a in t.get("alternatives", []):
                x = a["query_ms"]
                lines.append(f"      vs {a['method']}: p50 {x['p50']:.2f} / p95 {x['p95']:.2f} / p99 "
                             f"{x['p99']:.2f} ms, top-1 {a['top1']:.2%}, codes "
                             f"{a['code_bytes'] / 2**20:.0f} MB, build {a['build_s']} s")
            if "churn" in t:
                c = t["churn"]
                lines.append("      single operations: " + ", ".join(
                    f"{k[:-3]} p50 {c[k]['p50']:.3f} / p99 {c[k]['p99']:.3f} / max {c[k]['max']:.2f} ms"
                    for k in ("add_ms", "remove_ms", "replace_ms")))
        lines.append("  closest real impostor pairs: " + "; ".join(
            f"{p['distance']} {p['a']} ~ {p['b']}" for p in e["closest_impostor_pairs"][:6]))
        lines.append(f"  rank-1 identification; fixed threshold {e['threshold_fixed']} = FPIR <= "
                     f"{e['fpir_target']:g} on the real gallery alone:")
        for r in e["identification"]:
            m, b = r["measured"], r["binomial"]
            bt = "unresolved" if b["threshold_for_fpir"] is None else (
                f"{b['threshold_for_fpir']} -> FNIR {b['at_that_threshold']['fnir']:.2%}")
            lines.append(
                f"    {r['entries']:>9,} ({r['gallery']}): fixed t: measured FPIR "
                f"{m['fixed_threshold']['fpir']:.2%} FNIR {m['fixed_threshold']['fnir']:.2%}, binomial "
                f"FPIR {b['fixed_threshold']['fpir']:.2%} FNIR {b['fixed_threshold']['fnir']:.2%}; "
                f"t for FPIR {e['fpir_target']:g}: measured {m['threshold_for_fpir']} -> FNIR "
                f"{m['at_that_threshold']['fnir']:.2%}, binomial {bt}")
    c = report["conditions"]
    lines.append("conditions: " + "; ".join(f"{k}: {v}" for k, v in c.items()))
    return "\n".join(lines)
