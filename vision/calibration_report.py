"""Calibrate a face engine on a labelled photo folder and write plots plus a summary.

    eventguard faces calibrate --set ../shared/data/faces-lfw --out /tmp/calib-sface

The folder holds labels.csv (columns file, person; more columns are ignored; rows naming
several people or marked duplicate_of another row are skipped). Each photo gives one face,
the one nearest the centre; embeddings are cached (by engine, settings and labels.csv) so a
rerun only recomputes the figures. Writes det.png, scores.png, identification.png,
summary.json and summary.txt. Figures use the conventions of vision/calibrate.py (a score
above the threshold matches). Runs on one thread (OpenCV and BLAS), as measured.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from vision import calibrate as cal
from vision.calibrate import Metric
from vision.engine import CONFIDENT_SCORE, Choose, EngineName, FaceEngine, assess, embed_result
from vision.engine import Metric as EngineMetric
from vision.faceworker import EngineOptions, load
from vision.models import PACKAGE, PACKAGE_VERSION, SFACE, YUNET

FMR_TARGETS = (1e-3, 1e-4, 1e-5)
FPIR_TARGETS = (1e-2, 1e-3)
GALLERY_SIZES = (1000, 1500)
SPLIT_SEEDS = (0, 1, 2, 3, 4)
DEFAULT_CACHE = Path("/tmp/eventguard-calibration")

Clock = Callable[[], float]


@dataclass(frozen=True)
class Photo:
    """One labelled photo: its path inside the folder and who it shows."""

    file: str
    person: str


@dataclass(frozen=True)
class Sample:
    """What an engine made of one photo."""

    embedding: npt.NDArray[np.float32] | None
    n_faces: int
    detect_ms: float
    align_ms: float  # nan where alignment is not a separate step
    embed_ms: float
    face_px: float = math.nan
    sharpness: float = math.nan
    frontal: float = math.nan


class Engine(Protocol):
    """Detect the face nearest the centre and embed it."""

    engine_id: str
    metric: Metric
    dim: int

    def conditions(self) -> dict[str, Any]: ...

    def process(self, bgr: npt.NDArray[np.uint8]) -> Sample: ...


def score_metric(metric: EngineMetric) -> Metric:
    """The similarity score calibrate.py uses for an engine's distance."""
    return Metric.COSINE if metric is EngineMetric.COSINE else Metric.NEG_EUCLIDEAN


def to_distance(metric: EngineMetric, score_threshold: float) -> float:
    """A score threshold (matches above) as the engine's distance (matches at or below)."""
    return 1.0 - score_threshold if metric is EngineMetric.COSINE else -score_threshold


class Subject:
    """A face engine (vision.engine) as the report runs it: the same detect, choose, quality,
    align and embed code as the gate's, with the face nearest the centre (LFW's convention),
    no size limit and no quality bar (every face is scored; quality is recorded)."""

    def __init__(self, engine: FaceEngine, conditions: dict[str, Any],
                 clock: Clock = time.perf_counter) -> None:
        self.engine = engine
        self.spec = engine.spec
        self.metric = score_metric(engine.spec.metric)
        self.dim = engine.spec.dim
        self.clock = clock
        self._conditions = conditions
        self.engine_id = f"{engine.spec.model_id}+{conditions.get('detector_id', engine.spec.detector)}"

    def conditions(self) -> dict[str, Any]:
        return dict(self._conditions)

    def process(self, bgr: npt.NDArray[np.uint8]) -> Sample:
        res = assess(self.engine, bgr, min_face_px=1, bar=None, choose=Choose.CENTRE, clock=self.clock)
        if res.face is None:
            return Sample(None, res.faces, res.detect_ms, math.nan, math.nan)
        res = embed_result(self.engine, bgr, res, self.clock)
        q = res.quality
        emb = None if res.embedding is None else np.asarray(res.embedding, dtype=np.float32)
        return Sample(emb, res.faces, res.detect_ms, math.nan, res.encode_ms,
                      q.face_px if q else math.nan, q.sharpness if q else math.nan,
                      q.frontal if q else math.nan)


def subject(opts: EngineOptions, clock: Clock = time.perf_counter) -> Subject:
    """The report's view of the engine `opts` names (loaded in this thread)."""
    eng = load(opts)
    if opts.name is EngineName.SFACE:
        from vision.sface_engine import CONF_THRESHOLD, DETECT_MAX_SIDE

        return Subject(eng, {
            "detector": YUNET.model_id,
            "recogniser": SFACE.model_id,
            "models_from": f"{PACKAGE}=={PACKAGE_VERSION}",
            "runtime": f"OpenCV {cv2.__version__} dnn (default engine), 1 thread",
            "score_threshold": CONF_THRESHOLD,
            "detect_max_side_px": DETECT_MAX_SIDE,
            "alignment": "similarity transform of 5 points to the 112x112 ArcFace template",
            "face_choice": f"nearest the centre among faces scoring >= {CONFIDENT_SCORE}",
            "pipeline": "vision.engine.assess + embed_result (the gate's code)",
        }, clock)
    import dlib

    return Subject(eng, {
        "detector_id": f"hog-up{opts.upsample}",
        "detector": f"dlib HOG, upsample {opts.upsample}, copy at most "
                    f"{opts.detect_width or eng.spec.detect_px} px wide",
        "recogniser": f"dlib_face_recognition_resnet_model_v1, {opts.name} network",
        "runtime": f"dlib {getattr(dlib, '__version__', '?')} (dlib-bin), 1 thread, num_jitters 1",
        "face_choice": "nearest the centre",
        "pipeline": "vision.engine.assess + embed_result (the gate's code)",
    }, clock)


def read_labels(folder: Path) -> list[Photo]:
    """Photos of labels.csv that show one person and are not duplicates, in file order."""
    photos: list[Photo] = []
    with (folder / "labels.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if ";" in row["person"] or (row.get("duplicate_of") or "").strip():
                continue
            photos.append(Photo(row["file"], row["person"]))
    return photos


@dataclass(frozen=True)
class Extracted:
    """Per-photo results of one engine over a folder (arrays in photo order)."""

    files: list[str]
    embeddings: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    n_faces: npt.NDArray[np.int64]
    detect_ms: npt.NDArray[np.float64]
    align_ms: npt.NDArray[np.float64]
    embed_ms: npt.NDArray[np.float64]
    face_px: npt.NDArray[np.float64]
    sharpness: npt.NDArray[np.float64]
    frontal: npt.NDArray[np.float64]


def _cache_path(cache_dir: Path, engine: Engine, folder: Path) -> Path:
    h = hashlib.sha256((folder / "labels.csv").read_bytes())
    h.update(json.dumps(engine.conditions(), sort_keys=True).encode())
    return cache_dir / f"{engine.engine_id}-{h.hexdigest()[:16]}.npz"


def extract(
    engine: Engine,
    folder: Path,
    photos: Sequence[Photo],
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: Callable[[int, int], None] | None = None,
) -> Extracted:
    """Run `engine` over every photo (or load the cached run of the same engine and data)."""
    cache = _cache_path(cache_dir, engine, folder) if cache_dir is not None else None
    files = [p.file for p in photos]
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if [str(f) for f in z["files"]] == files:
                return Extracted(
                    files, z["embeddings"], z["valid"], z["n_faces"], z["detect_ms"],
                    z["align_ms"], z["embed_ms"], z["face_px"], z["sharpness"], z["frontal"],
                )
    n = len(photos)
    emb = np.zeros((n, engine.dim), dtype=np.float32)
    cols = {k: np.full(n, math.nan) for k in
            ("detect_ms", "align_ms", "embed_ms", "face_px", "sharpness", "frontal")}
    valid = np.zeros(n, dtype=bool)
    n_faces = np.zeros(n, dtype=np.int64)
    for i, photo in enumerate(photos):
        raw = cv2.imread(str(folder / photo.file), cv2.IMREAD_COLOR)
        if raw is None:
            raise OSError(f"cannot read {folder / photo.file}")
        bgr = np.asarray(raw, dtype=np.uint8)
        if i == 0:
            engine.process(bgr)  # warm-up: first inference allocates; not timed
        s = engine.process(bgr)
        n_faces[i] = s.n_faces
        if s.embedding is not None:
            emb[i] = s.embedding
            valid[i] = True
        for k in cols:
            cols[k][i] = getattr(s, k)
        if progress is not None:
            progress(i + 1, n)
    out = Extracted(files, emb, valid, n_faces, **cols)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, files=np.array(files), **{k: v for k, v in asdict(out).items() if k != "files"})
        tmp.replace(cache)
    return out


def _stats(ms: npt.NDArray[np.float64]) -> dict[str, float] | None:
    x = ms[np.isfinite(ms)]
    if x.size == 0:
        return None
    return {
        "median": round(float(np.median(x)), 2),
        "p95": round(float(np.percentile(x, 95)), 2),
        "mean": round(float(x.mean()), 2),
        "n": int(x.size),
    }


def evaluate(
    photos: Sequence[Photo],
    ex: Extracted,
    metric: Metric,
    fmr_targets: Sequence[float] = FMR_TARGETS,
    gallery_sizes: Sequence[int] = GALLERY_SIZES,
    fpir_targets: Sequence[float] = FPIR_TARGETS,
    seeds: Sequence[int] = SPLIT_SEEDS,
) -> tuple[dict[str, Any], cal.PairScores, dict[int, cal.OpenSetScores]]:
    """All figures of the report, plus the scores behind the plots."""
    labels = [p.person for p in photos]
    pairs = cal.pair_scores(labels, ex.embeddings, metric, ex.valid)
    points = []
    for target in fmr_targets:
        op = cal.operating_point(pairs, target)
        points.append({
            **asdict(op),
            "false_matches": int(round(op.fmr * pairs.impostor.size)),
            "fnmr_counting_no_face": cal.fnmr_with_missing(
                op.fnmr, pairs.genuine.size, pairs.genuine_missing
            ),
        })
    identification = []
    plotted: dict[int, cal.OpenSetScores] = {}
    n_people = len({p for p, ok in zip(labels, ex.valid, strict=True) if ok})
    for size in gallery_sizes:
        if size > n_people:
            identification.append({"gallery_size": size, "skipped": f"only {n_people} identities"})
            continue
        runs: list[dict[str, Any]] = []
        for seed in seeds:
            split = cal.open_set_split(labels, size, np.random.default_rng(seed), ex.valid)
            scores = cal.open_set_scores(labels, ex.embeddings, split, metric)
            if seed == seeds[0]:
                plotted[size] = scores
            if not split.mated or not split.non_mated:
                continue
            for target in fpir_targets:
                ip = cal.identification_point(scores, target)
                runs.append({
                    "seed": seed, **asdict(ip), "mated": len(split.mated),
                    "non_mated": len(split.non_mated), "mated_no_face": split.mated_missing,
                    "fnir_counting_no_face": cal.fnir_with_missing(
                        ip.fnir, len(split.mated), split.mated_missing
                    ),
                })
        per_target = []
        for target in fpir_targets:
            rs = [r for r in runs if r["target_fpir"] == target]
            if not rs:
                continue

            def agg(key: str, rs: list[dict[str, Any]] = rs) -> dict[str, float]:
                v = np.array([r[key] for r in rs], dtype=np.float64)
                return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}

            per_target.append({
                "target_fpir": target, "threshold": agg("threshold"), "fpir": agg("fpir"),
                "fnir": agg("fnir"), "fnir_counting_no_face": agg("fnir_counting_no_face"),
                "mated_probes": rs[0]["mated"], "non_mated_probes": rs[0]["non_mated"],
            })
        identification.append({
            "gallery_size": size, "splits": len(seeds), "seeds": list(seeds), "points": per_target,
            "runs": runs,
        })
    no_face = [f for f, ok in zip(ex.files, ex.valid, strict=True) if not ok]
    align_embed = ex.align_ms + np.nan_to_num(ex.embed_ms) if np.isfinite(ex.align_ms).any() \
        else ex.embed_ms
    summary: dict[str, Any] = {
        "photos": len(photos),
        "identities": len(set(labels)),
        "no_face": {"count": len(no_face), "files": no_face[:100]},
        "several_faces_found": int((ex.n_faces > 1).sum()),
        "timing_ms": {
            "detect": _stats(ex.detect_ms),
            "align": _stats(ex.align_ms),
            "embed": _stats(ex.embed_ms),
            "align_plus_embed": _stats(align_embed),
            "total_per_face": _stats(np.where(ex.valid, ex.detect_ms + align_embed, math.nan)),
        },
        "face_quality": {
            "face_px": _stats(ex.face_px),
            "sharpness": _stats(ex.sharpness),
            "frontal": _stats(ex.frontal),
        },
        "verification": {
            "genuine_pairs": int(pairs.genuine.size),
            "impostor_pairs": int(pairs.impostor.size),
            "genuine_pairs_without_face": pairs.genuine_missing,
            "impostor_pairs_without_face": pairs.impostor_missing,
            "points": points,
        },
        "identification": identification,
    }
    return summary, pairs, plotted


def plot(out: Path, title: str, pairs: cal.PairScores, ident: dict[int, cal.OpenSetScores],
         summary: dict[str, Any]) -> list[Path]:
    """det.png, scores.png and identification.png in `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    thresholds = cal.det_thresholds(pairs.genuine, pairs.impostor)
    fmr, fnmr = cal.det_curve(pairs.genuine, pairs.impostor, thresholds)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    keep = (fmr > 0) & (fnmr > 0)
    ax.plot(fmr[keep], fnmr[keep], label=f"{title} ({pairs.genuine.size:,} genuine, "
            f"{pairs.impostor.size:,} impostor pairs)")
    for p in summary["verification"]["points"]:
        ax.plot([p["fmr"]], [max(p["fnmr"], 1e-5)], "o",
                label=f"FMR ≤ {p['target_fmr']:g}: FNMR {p['fnmr']:.2%} (t = {p['threshold']:.3f})")
    if keep.any():
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("false match rate (FMR, share of impostor pairs)")
    ax.set_ylabel("false non-match rate (FNMR, share of genuine pairs)")
    ax.set_title(f"{title}: 1:1 verification DET curve", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "det.png")
    fig.savefig(written[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    lo = float(min(pairs.genuine.min(), pairs.impostor.min()))
    hi = float(max(pairs.genuine.max(), pairs.impostor.max()))
    bins = np.linspace(lo, hi, 121).tolist()
    ax.hist(pairs.impostor, bins=bins, density=True, alpha=0.6, label="impostor pairs")
    ax.hist(pairs.genuine, bins=bins, density=True, alpha=0.6, label="genuine pairs")
    for p in summary["verification"]["points"]:
        ax.axvline(p["threshold"], linestyle="--", linewidth=1,
                   label=f"threshold at FMR {p['target_fmr']:g} = {p['threshold']:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("score (higher = more alike; a pair matches above the threshold)")
    ax.set_ylabel("density (per score unit, log scale)")
    ax.set_title(f"{title}: score distributions", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "scores.png")
    fig.savefig(written[-1])
    plt.close(fig)

    if ident:
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
        logx = False
        for size, sc in sorted(ident.items()):
            t = cal.det_thresholds(sc.mated[np.isfinite(sc.mated)], sc.non_mated)
            fpir, fnir = cal.det_curve(sc.mated, sc.non_mated, t)
            keep = fpir > 0
            ax.plot(fpir[keep], fnir[keep], label=f"gallery of {size:,} identities "
                    f"({sc.mated.size:,} mated, {sc.non_mated.size:,} non-mated probes)")
            logx = logx or bool(keep.any())
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel("false positive identification rate (FPIR, share of non-mated probes)")
        ax.set_ylabel("false negative identification rate (FNIR, rank 1)")
        ax.set_title(f"{title}: 1:N open set, rank 1 (first split)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(out / "identification.png")
        fig.savefig(written[-1])
        plt.close(fig)
    return written


def text_summary(s: dict[str, Any]) -> str:
    """The summary as lines a person reads."""
    t = s["timing_ms"]
    lines = [
        f"engine {s['engine']['id']} ({s['engine']['metric']}) on {s['data']['folder']}",
        f"  conditions: {json.dumps(s['engine']['conditions'], sort_keys=True)}",
        f"  {s['photos']:,} photos, {s['identities']:,} identities; no face found in "
        f"{s['no_face']['count']}; several faces in {s['several_faces_found']} (nearest centre used)",
    ]
    for stage in ("detect", "align", "embed", "align_plus_embed", "total_per_face"):
        if t.get(stage):
            lines.append(f"  {stage:>16}: median {t[stage]['median']:.1f} ms, "
                         f"p95 {t[stage]['p95']:.1f} ms (n = {t[stage]['n']:,})")
    v = s["verification"]
    lines.append(f"  1:1: {v['genuine_pairs']:,} genuine, {v['impostor_pairs']:,} impostor pairs "
                 f"({v['genuine_pairs_without_face']} genuine pairs lost to no face)")
    for p in v["points"]:
        lines.append(
            f"    FMR <= {p['target_fmr']:g}: threshold {p['threshold']:.4f}, FMR {p['fmr']:.2e} "
            f"({p['false_matches']} pairs), TAR {p['tar']:.2%}, FNMR {p['fnmr']:.2%} "
            f"({p['fnmr_counting_no_face']:.2%} counting no-face pairs as non-matches)"
        )
    for g in s["identification"]:
        if "skipped" in g:
            lines.append(f"  1:N gallery {g['gallery_size']}: skipped, {g['skipped']}")
            continue
        for p in g["points"]:
            lines.append(
                f"  1:N gallery {g['gallery_size']:,} ({p['mated_probes']:,} mated, "
                f"{p['non_mated_probes']:,} non-mated probes, {g['splits']} random splits): "
                f"FPIR <= {p['target_fpir']:g} -> threshold {p['threshold']['median']:.4f}, "
                f"FNIR median {p['fnir']['median']:.2%} "
                f"[{p['fnir']['min']:.2%}, {p['fnir']['max']:.2%}], "
                f"counting no-face probes {p['fnir_counting_no_face']['median']:.2%}"
            )
    c = s.get("chosen")
    if c:
        lines.append(f"  thresholds chosen ({c['convention']}):")
        if "verify" in c:
            v = c["verify"]
            lines.append(f"    verify (1:1) at FMR {c['targets']['fmr']:g}: {c['metric']} distance "
                         f"{v['threshold']:.4f} (FMR {v['fmr']:.2e}, FNMR {v['fnmr']:.2%})")
        if "screen" in c:
            sc = c["screen"]
            lines.append(f"    screen (1:N) at FPIR {c['targets']['fpir']:g} against {sc['list_size']:,} "
                         f"enrolled: {c['metric']} distance {sc['threshold']:.4f} (median of "
                         f"{sc['splits']} splits; FNIR {sc['fnir']:.2%})")
        for name, crit in c["criteria"].items():
            lines.append(f"    {name}: {crit['rule']}: {'MET' if crit['met'] else 'NOT MET'} "
                         f"({'FNMR' if name == 'verify' else 'FNIR'} {crit.get('fnmr', crit.get('fnir')):.2%})")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Targets:
    """What the thresholds are chosen for."""

    fmr: float = 1e-3  # verify (1:1): the share of impostor pairs allowed to match
    fpir: float = 1e-2  # screen (1:N): the share of people not enrolled allowed to raise a hit
    list_size: int = 1000  # ... against this many enrolled people


# The bar for the default engine (issue 13): FNMR <= 2% at FMR <= 1e-3 for 1:1,
# FPIR <= 1% at FNIR <= 10% for 1:N against >= 1,000 enrolled people.
CRITERIA = {"fmr": 1e-3, "fnmr": 0.02, "fpir": 1e-2, "fnir": 0.10, "list_size": 1000}


def choose(summary: dict[str, Any], metric: EngineMetric, targets: Targets) -> dict[str, Any]:
    """The verify and screen thresholds for `targets` (as the engine's distances), their
    figures, and whether the issue's bar is met (pure, from an evaluated summary)."""
    out: dict[str, Any] = {"metric": str(metric), "targets": asdict(targets),
                           "convention": "distance; a comparison matches when distance <= threshold"}
    point = next((p for p in summary["verification"]["points"] if p["target_fmr"] == targets.fmr), None)
    if point is not None:
        out["verify"] = {"threshold": round(to_distance(metric, point["threshold"]), 4),
                         "score_threshold": point["threshold"], "fmr": point["fmr"],
                         "fnmr": point["fnmr"], "fnmr_counting_no_face": point["fnmr_counting_no_face"]}
    gallery = next((g for g in summary["identification"]
                    if g["gallery_size"] == targets.list_size and "points" in g), None)
    ip = None if gallery is None else next(
        (p for p in gallery["points"] if p["target_fpir"] == targets.fpir), None)
    if ip is not None:
        out["screen"] = {"threshold": round(to_distance(metric, ip["threshold"]["median"]), 4),
                         "score_threshold": ip["threshold"]["median"], "list_size": targets.list_size,
                         "fpir": ip["fpir"]["median"], "fnir": ip["fnir"]["median"],
                         "fnir_range": [ip["fnir"]["min"], ip["fnir"]["max"]],
                         "fnir_counting_no_face": ip["fnir_counting_no_face"]["median"],
                         "splits": gallery["splits"]}  # type: ignore[index]
    crit: dict[str, Any] = {}
    if point is not None and targets.fmr <= CRITERIA["fmr"]:
        crit["verify"] = {"rule": "FNMR <= 2% at FMR <= 1e-3", "fnmr": point["fnmr_counting_no_face"],
                          "met": point["fnmr_counting_no_face"] <= CRITERIA["fnmr"]}
    if ip is not None and targets.fpir <= CRITERIA["fpir"] and targets.list_size >= CRITERIA["list_size"]:
        fnir = ip["fnir_counting_no_face"]["median"]
        crit["screen"] = {"rule": f"FPIR <= 1% at FNIR <= 10% against {targets.list_size:,} enrolled",
                          "fnir": fnir, "met": fnir <= CRITERIA["fnir"]}
    out["criteria"] = crit
    return out


def run(
    engine: Engine,
    folder: Path,
    out: Path,
    cache_dir: Path | None = DEFAULT_CACHE,
    gallery_sizes: Sequence[int] = GALLERY_SIZES,
    progress: Callable[[int, int], None] | None = None,
    targets: Targets = Targets(),
    engine_metric: EngineMetric | None = None,
) -> dict[str, Any]:
    """Extract (or load), evaluate, choose the thresholds for `targets`, and write the plots
    and summaries into `out`."""
    photos = read_labels(folder)
    ex = extract(engine, folder, photos, cache_dir, progress)
    fmr_targets = tuple(sorted({targets.fmr, *FMR_TARGETS}, reverse=True))
    fpir_targets = tuple(sorted({targets.fpir, *FPIR_TARGETS}, reverse=True))
    sizes = tuple(dict.fromkeys((targets.list_size, *gallery_sizes)))
    summary, pairs, ident = evaluate(photos, ex, engine.metric, fmr_targets=fmr_targets,
                                     gallery_sizes=sizes, fpir_targets=fpir_targets)
    metric = engine_metric or (EngineMetric.COSINE if engine.metric is Metric.COSINE
                               else EngineMetric.EUCLIDEAN)
    summary = {
        "engine": {"id": engine.engine_id, "metric": str(engine.metric),
                   "conditions": engine.conditions()},
        "data": {"folder": str(folder), "labels_sha256": hashlib.sha256(
            (folder / "labels.csv").read_bytes()).hexdigest(),
            "face_used": "nearest the image centre"},
        "convention": "a pair matches when its score is strictly above the threshold",
        **summary,
    }
    summary["chosen"] = choose(summary, metric, targets)
    out.mkdir(parents=True, exist_ok=True)
    plot(out, engine.engine_id, pairs, ident, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (out / "summary.txt").write_text(text_summary(summary))
    return summary


# --------------------------------------------------------------------------------------
# An event's own crowd: impostor scores between its registrants
# --------------------------------------------------------------------------------------

CROWD_MAX = 5000  # registrants scored at most (a random sample beyond: 12.5 M pairs)


def crowd(ids: Sequence[str], embeddings: npt.ArrayLike, metric: EngineMetric, verify: float,
          screen: float, target_fmr: float = 1e-3, rng: np.random.Generator | None = None,
          max_people: int = CROWD_MAX) -> tuple[dict[str, Any], npt.NDArray[np.float64]]:
    """Whether the thresholds hold on one event's registrants (pure).

    Every registration is taken as a different person, so every pair is an impostor pair:
    the share within `verify` is this crowd's FMR (the calibrated target holds when it is
    near or below `target_fmr`), and a registrant whose nearest other registrant is within
    `screen` is a false positive of a 1:N search against the rest. The closest pairs are
    listed: a lookalike, or one person registered twice. Returns the summary and the
    impostor distances (for the plot)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    n_all = len(ids)
    idx = np.arange(n_all)
    if n_all > max_people:
        idx = np.sort((rng or np.random.default_rng(0)).choice(n_all, max_people, replace=False))
    emb, names = emb[idx], [ids[i] for i in idx.tolist()]
    n = len(names)
    sim = cal.similarity(emb, emb, score_metric(metric)) if n else np.zeros((0, 0))
    dist = 1.0 - sim if metric is EngineMetric.COSINE else -sim
    iu = np.triu_indices(n, 1)
    d = np.asarray(dist[iu], dtype=np.float64)
    summary: dict[str, Any] = {"registrations": n_all, "scored": n, "pairs": int(d.size),
                               "metric": str(metric), "verify_threshold": verify, "screen_threshold": screen}
    if d.size == 0:
        return summary, d
    within = int((d <= verify).sum())
    summary["verify"] = {"false_matches": within, "fmr": within / d.size, "target_fmr": target_fmr,
                         "holds": within / d.size <= target_fmr,
                         "threshold_for_target_here": round(-cal.threshold_at_fmr(-d, target_fmr), 4)}
    np.fill_diagonal(dist, np.inf)
    nearest = dist.min(axis=1)
    hits = int((nearest <= screen).sum())
    summary["screen"] = {"list_size": n - 1, "false_positives": hits, "fpir": hits / n}
    order = np.argsort(d, kind="stable")[:10]
    summary["closest_pairs"] = [{"a": names[int(iu[0][k])], "b": names[int(iu[1][k])],
                                 "distance": round(float(d[k]), 4)} for k in order]
    summary["distance"] = {"min": float(d.min()), "p001": float(np.percentile(d, 0.1)),
                           "median": float(np.median(d))}
    return summary, d


def plot_crowd(out: Path, title: str, d: npt.NDArray[np.float64], summary: dict[str, Any]) -> Path:
    """The crowd's impostor distances with the thresholds in force (crowd.png in `out`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    if d.size:
        ax.hist(d, bins=120, density=True, alpha=0.7, label=f"impostor pairs ({d.size:,})")
    ax.axvline(summary["verify_threshold"], linestyle="--", color="C1",
               label=f"verify threshold {summary['verify_threshold']:.4f}")
    ax.axvline(summary["screen_threshold"], linestyle=":", color="C2",
               label=f"screen threshold {summary['screen_threshold']:.4f}")
    ax.set_yscale("log")
    ax.set_xlabel(f"{summary['metric']} distance (lower = more alike; a pair matches at or below)")
    ax.set_ylabel("density (log scale)")
    ax.set_title(f"{title}: distances between different registrants", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "crowd.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def crowd_text(event_id: str, s: dict[str, Any]) -> str:
    """The crowd summary as lines a person reads."""
    lines = [f"event {event_id}: {s['registrations']:,} registrations of this model, "
             f"{s['scored']:,} scored, {s['pairs']:,} impostor pairs ({s['metric']} distance)"]
    if "verify" in s:
        v, sc = s["verify"], s["screen"]
        lines.append(f"  verify {s['verify_threshold']:.4f}: {v['false_matches']} pairs within, FMR "
                     f"{v['fmr']:.2e} ({'holds' if v['holds'] else 'EXCEEDS'} the target {v['target_fmr']:g}; "
                     f"this crowd's threshold for it: {v['threshold_for_target_here']:.4f})")
        lines.append(f"  screen {s['screen_threshold']:.4f}: {sc['false_positives']} of {s['scored']:,} "
                     f"registrants have another within it (FPIR {sc['fpir']:.2%} against {sc['list_size']:,})")
        for p in s["closest_pairs"][:5]:
            lines.append(f"  closest: {p['a']} ~ {p['b']} at {p['distance']:.4f}")
    return "\n".join(lines) + "\n"
