"""`eventguard faces …`: the face engine's tools: embed, compare, thresholds, calibrate, reenrol.

Every command runs the same engine code as the gates (vision/engine.py, SFace by default) and
prints distances in its metric (lower = more alike). `embed` and `thresholds` let anyone
evaluate the engine on their own labelled photos; `calibrate` does it on a labelled folder
(or on an event's own registrants) and picks the thresholds; `reenrol` re-makes the stored
embeddings after a change of engine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shell.cli.common import (
    add,
    add_db,
    add_face_engine,
    add_key_dir,
    add_venue,
    engine_options,
    face_key,
    print_json,
    with_db,
)


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    fc = sub.add_parser("faces", help="face tools").add_subparsers(dest="faces_command", metavar="ACTION",
                                                                    required=True)
    sp = add(fc, "embed", cmd_faces_embed,
             "embed the largest face of each image: one line per image (file, model id, embedding "
             "or the problem); exit status 1 if any image gave none")
    sp.add_argument("images", type=Path, nargs="+", metavar="IMG")
    sp.add_argument("--json", action="store_true", help="one JSON object per line")
    sp.add_argument("--centre", action="store_true",
                    help="the face nearest the image centre instead of the largest (labelled sets, LFW)")
    add_face_engine(sp)

    sp = add(fc, "compare", cmd_faces_compare,
             "distance between the largest faces of two photos, on one engine")
    sp.add_argument("a", type=Path)
    sp.add_argument("b", type=Path)
    sp.add_argument("--threshold", "--tolerance", dest="threshold", type=float, default=None,
                    help="same person at or below this distance (default: the engine's verify threshold)")
    add_face_engine(sp)

    sp = add(fc, "thresholds", cmd_faces_thresholds,
             "the engine, its metric, and the verify (1:1) and screen (1:N) thresholds in force, "
             "with where each comes from")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--verify-threshold", type=float, default=None, help="as `gate run` would be given")
    sp.add_argument("--screen-threshold", type=float, default=None, help="as `gate run` would be given")
    add_face_engine(sp)

    sp = add(fc, "calibrate", cmd_faces_calibrate,
             "score distributions and thresholds from a labelled photo folder (labels.csv: file, "
             "person) and/or an event's registrants; DET and score plots (PNG) and figures in --out")
    sp.add_argument("--set", dest="folder", type=Path, default=None, metavar="DIR",
                    help="labelled folder, e.g. ../shared/data/faces-lfw")
    sp.add_argument("--event", default=None, help="also score the impostor pairs among this event's registrants")
    sp.add_argument("--out", type=Path, required=True, help="folder for plots and summaries")
    sp.add_argument("--target-fmr", type=float, default=1e-3, help="verify threshold for this FMR (1:1)")
    sp.add_argument("--target-fpir", type=float, default=1e-2, help="screen threshold for this FPIR (1:N)")
    sp.add_argument("--list-size", type=int, default=1000,
                    help="... against this many enrolled people (one photo each; also reported at 1,500)")
    sp.add_argument("--cache", type=Path, default=None,
                    help="embedding cache folder (default /tmp/eventguard-calibration)")
    sp.add_argument("--no-cache", action="store_true")
    sp.add_argument("--upsample", type=int, default=1, choices=[0, 1], help="dlib engines: HOG upsampling")
    sp.add_argument("--json", action="store_true", help="print summary.json instead of the text")
    add_face_engine(sp)
    add_db(sp)
    add_key_dir(sp)  # --event: the registrations' embeddings are sealed with the photo key

    sp = add(fc, "reenrol", cmd_faces_reenrol,
             "re-make the event's registration embeddings (and every watchlist entry's) with the engine, "
             "from their sealed photos; resumable; progress on stderr")
    sp.add_argument("--event", default=None, help="event id (default: the venue's)")
    sp.add_argument("--key-dir", type=Path, default=None, help="where the photo key lives (default: data dir/keys)")
    sp.add_argument("--workers", type=int, default=None, help="face worker processes (default: CPU count)")
    sp.add_argument("--batch-size", type=int, default=50)
    sp.add_argument("--no-watchlists", action="store_true", help="registrations only")
    sp.add_argument("--json", action="store_true", help="the summary as JSON")
    add_face_engine(sp)
    add_venue(sp)
    add_db(sp)


def _embed_line(path: Path, opts: Any, centre: bool) -> dict[str, Any]:
    from vision.engine import Choose, analyse, below_bar
    from vision.errors import ImageError
    from vision.faceworker import engine
    from vision.image import read_file

    eng = engine(opts)
    row: dict[str, Any] = {"file": str(path), "model_id": eng.spec.model_id}
    try:
        bgr = read_file(path)
    except ImageError as err:
        return {**row, "problem": err.code, "detail": str(err)}
    res = analyse(eng, bgr, min_face_px=1, bar=None, choose=Choose.CENTRE if centre else Choose.LARGEST)
    row["faces"] = res.faces
    if res.quality is not None:
        q = res.quality
        row["quality"] = {"face_px": round(q.face_px, 1), "sharpness": round(q.sharpness, 1),
                          "frontal": None if q.pose is None else round(q.pose.frontal, 3),
                          "below_bar": below_bar(q, _bar())}
    if res.embedding is None:
        return {**row, "problem": (res.problem.value if res.problem else "no_face")}
    return {**row, "metric": eng.spec.metric.value, "dim": eng.spec.dim,
            "embedding": [round(float(x), 7) for x in res.embedding]}


def _bar() -> Any:
    from vision.engine import DEFAULT_BAR

    return DEFAULT_BAR


def cmd_faces_embed(args: argparse.Namespace) -> int:
    """Embed the chosen face of each image, one line each."""
    opts = engine_options(args)
    failed = 0
    for path in args.images:
        row = _embed_line(path, opts, args.centre)
        failed += "embedding" not in row
        if args.json:
            print_json(row)
        elif "embedding" in row:
            print(f"{row['file']}: {row['model_id']} {row['dim']}-d, {row['faces']} face(s), "
                  f"face {row['quality']['face_px']:.0f} px", flush=True)
        else:
            print(f"{row['file']}: {row['model_id']}: {row['problem']}", flush=True)
    return 1 if failed else 0


def cmd_faces_compare(args: argparse.Namespace) -> int:
    """Compare the largest face in two photos on one engine."""
    opts = engine_options(args)
    a, b = _embed_line(args.a, opts, False), _embed_line(args.b, opts, False)
    for row in (a, b):
        if row.get("problem") in ("empty_image", "not_an_image", "image_too_large"):
            print(f"error: {row['file']}: {row.get('detail', row['problem'])}", file=sys.stderr)
            return 1
    from vision.engine import spec

    s = spec(opts.name)
    threshold = args.threshold if args.threshold is not None else s.thresholds.verify
    d = s.distance(a["embedding"], b["embedding"]) if "embedding" in a and "embedding" in b else None
    print_json({"model_id": s.model_id, "metric": s.metric.value, "faces_a": a.get("faces", 0),
                "faces_b": b.get("faces", 0), "distance": None if d is None else round(d, 6),
                "threshold": threshold, "same": d is not None and d <= threshold})
    return 0


def thresholds_report(name: str, verify: float | None = None, screen: float | None = None) -> dict[str, Any]:
    """What `faces thresholds --json` prints."""
    from dataclasses import asdict

    from vision.engine import DEFAULT_BAR, spec

    s = spec(name)
    th = s.thresholds.override(verify, screen, "command line")
    return {"engine": s.name.value, "model_id": s.model_id, "detector": s.detector, "metric": s.metric.value,
            "dim": s.dim, "convention": "distance; same person / watchlist candidate when distance <= threshold",
            "verify": {"threshold": th.verify, "source": th.verify_source},
            "screen": {"threshold": th.screen, "source": th.screen_source},
            "quality_bar": asdict(DEFAULT_BAR), "min_face_px": s.min_face_px,
            "enrol_min_face_px": s.enrol_min_face_px, "licence": s.licence}


def cmd_faces_thresholds(args: argparse.Namespace) -> int:
    """Print the thresholds in force."""
    r = thresholds_report(args.face_engine, args.verify_threshold, args.screen_threshold)
    if args.json:
        print_json(r)
    else:
        print(f"engine {r['engine']} ({r['model_id']} + {r['detector']}), {r['metric']} distance, {r['dim']}-d")
        print(f"  verify (1:1): {r['verify']['threshold']:.4f}  ({r['verify']['source']})")
        print(f"  screen (1:N): {r['screen']['threshold']:.4f}  ({r['screen']['source']})")
    return 0


def cmd_faces_calibrate(args: argparse.Namespace) -> int:
    """Calibrate on a labelled folder and/or an event's registrants."""
    import json

    if args.folder is None and args.event is None:
        print("error: give --set DIR, --event E, or both", file=sys.stderr)
        return 2
    if args.folder is not None and not (args.folder / "labels.csv").is_file():
        print(f"error: {args.folder} has no labels.csv (columns file, person)", file=sys.stderr)
        return 2
    import cv2
    from threadpoolctl import threadpool_limits

    from vision import calibration_report as report
    from vision.engine import EngineName, spec
    from vision.faceworker import EngineOptions

    opts = EngineOptions(EngineName(args.face_engine), None, args.upsample)
    s = spec(opts.name)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.folder is not None:
        targets = report.Targets(args.target_fmr, args.target_fpir, args.list_size)
        cache = None if args.no_cache else (args.cache or report.DEFAULT_CACHE)

        def progress(i: int, n: int) -> None:
            if i % 250 == 0 or i == n:
                print(f"  {i}/{n} photos", file=sys.stderr, flush=True)

        cv2.setNumThreads(1)
        with threadpool_limits(1):
            summary = report.run(report.subject(opts), args.folder, args.out, cache, report.GALLERY_SIZES,
                                 progress, targets, s.metric)
        if args.json:
            print(json.dumps(summary, default=float))
        else:
            sys.stdout.write(report.text_summary(summary))
    if args.event is not None:
        from command import registration

        key = face_key(args)
        ids, emb = with_db(args, lambda conn: registration.embeddings(conn, args.event, s.model_id, key))
        crowd, d = report.crowd(ids, emb, s.metric, s.thresholds.verify, s.thresholds.screen, args.target_fmr)
        crowd = {"event": args.event, "model_id": s.model_id, **crowd}
        (args.out / "crowd.json").write_text(json.dumps(crowd, indent=2, default=float) + "\n")
        report.plot_crowd(args.out, f"{args.event} ({s.model_id})", d, crowd)
        if args.json:
            print(json.dumps(crowd, default=float))
        else:
            sys.stdout.write(report.crowd_text(args.event, crowd))
    return 0


def cmd_faces_reenrol(args: argparse.Namespace) -> int:
    """Re-enrol an event's registrations and the watchlists with the engine."""
    from command import photo_seal, reenrol
    from eventguard.config import load_venue

    event_id = args.event or load_venue(args.venue).event.id
    key = photo_seal.load_key(photo_seal.key_path(args.key_dir), create=False)
    opts = engine_options(args)

    def progress(kind: str, done: int, total: int) -> None:
        print(f"  {kind}: {done}/{total}", file=sys.stderr, flush=True)

    summary = with_db(args, lambda conn: reenrol.reenrol(
        conn, event_id, opts=opts, photo_key=key, watchlists=not args.no_watchlists, workers=args.workers,
        batch_size=args.batch_size, progress=progress), migrate_first=True)
    out = {"event": event_id, **summary.as_dict()}
    if args.json:
        print_json(out)
    else:
        for kind in ("registrations", "watchlist"):
            k = out[kind]
            print(f"{kind}: {k['reenrolled']} re-enrolled with {out['model_id']} of {k['total']} on another "
                  f"model; {k['no_photo']} without a kept photo, {k['failed']} failed")
            for f in k["failures"][:20]:
                print(f"  {f['id']}: {f['code']} {f['detail']}")
    failed = sum(out[k]["failed"] + out[k]["no_photo"] for k in ("registrations", "watchlist"))
    return 1 if failed else 0
