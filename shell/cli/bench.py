"""`eventguard bench …`: the benchmarks (figures with their conditions)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from shell.cli.common import add, add_face_options, print_json


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    bn = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", metavar="ACTION",
                                                                   required=True)
    sp = add(bn, "gate", cmd_bench_gate, "gate decisions per second and latency (offline, real pipeline)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--decisions", type=int, default=40)
    sp.add_argument("--watchlist", type=int, default=100_000)
    sp.add_argument("--concurrency", type=int, default=3, help="scans in flight")
    sp.add_argument("--workers", type=int, default=2, help="threads for QR decoding and 1:N search")
    sp.add_argument("--rate", type=float, default=0.0,
                    help="open loop: scans offered per second (0: closed loop with --concurrency in flight)")
    sp.add_argument("--lane-frames", type=int, default=3,
                    help="frames of the person per scan: the one with the QR and the lane's recent ones")
    sp.add_argument("--best-frames", type=int, default=2, help="of those, how many are embedded and fused")
    sp.add_argument("--no-embed-ahead", dest="embed_ahead", action="store_false",
                    help="embed a recent frame only once it is needed (GateConfig.embed_ahead off)")
    add_face_options(sp)
    sp = add(bn, "screening", cmd_bench_screening,
             "1:N watchlist search at 10k-1M entries on real LFW faces: time, memory, recall, FPIR/FNIR")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--engines", default="sface,dlib", help="comma-separated: sface (main), dlib")
    sp.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated list sizes")
    sp.add_argument("--enrolled", type=int, default=1000, help="real identities enrolled (one photo each)")
    sp.add_argument("--recall-queries", type=int, default=1000, help="probes checked against the exact scan")
    sp.add_argument("--repeats", type=int, default=3, help="timed passes over all probes")
    sp.add_argument("--fpir", type=float, default=0.01, help="target FPIR for the thresholds")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--data", type=Path, default=None, help="labelled folder (default ../shared/data/faces-lfw)")
    sp.add_argument("--cache", type=Path, default=None,
                    help="embedding cache of the calibration report (default /tmp/eventguard-calibration)")
    sp.add_argument("--alternatives", action="store_true",
                    help="also time faiss Flat and SQ8 (full scans) on the recall probes")
    sp.add_argument("--coarse-min", type=int, default=None,
                    help="entries from which the index uses its PQ stage (default: the index's own)")
    sp = add(bn, "command", cmd_bench_command,
             "command server: events stored per second, live-map push latency, RSS")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--clients", type=int, default=1000, help="live-map websocket clients")
    sp.add_argument("--duration", type=float, default=10.0, help="seconds of gate load")
    sp.add_argument("--batch", type=int, default=200, help="events per gate batch")
    sp.add_argument("--rate-per-gate", type=float, default=0.0,
                    help="events/s each gate sends (0: as fast as acks come back)")
    sp.add_argument("--replicas", type=int, default=2, help="fan-out processes serving /ws/live (0: the server)")
    sp.add_argument("--client-procs", type=int, default=1, help="processes the live clients run in")
    sp = add(bn, "camera", cmd_bench_camera,  # crowd sensing (issue 18)
             "crowd-sensing camera: fps on one core at 640x480, count and line error on labelled frames")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--seeds", type=int, default=3, help="scenes per crowd size")
    sp.add_argument("--csrnet", action="store_true", help="also time the CSRNet density map per frame")
    sp = add(bn, "presence", cmd_bench_presence,
             "venue-wide presence: admission at one gate -> every other gate knows the ticket is inside")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--gates", type=int, default=10)
    sp.add_argument("--tickets", type=int, default=1000)
    sp.add_argument("--rate", type=float, default=25.0, help="admissions per second over all gates")


def cmd_bench_gate(args: argparse.Namespace) -> int:
    """Benchmark the gate pipeline offline (QR + face + 1:N search + journal)."""
    from shell import bench_gate

    report = asyncio.run(bench_gate.run(args.decisions, watchlist=args.watchlist, concurrency=args.concurrency,
                                   workers=args.workers, face_workers=args.face_workers, rate=args.rate,
                                   detect_width=args.detect_width, upsample=args.upsample,
                                   engine=args.face_engine, lane_frames=args.lane_frames,
                                   best_frames=args.best_frames, embed_ahead=args.embed_ahead))
    if args.json:
        print_json(report)
    else:
        print(f"{report['decisions']} decisions: p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, "
              f"{report['per_s']}/s; stages {report['stage_ms']}")
    return 0

def cmd_bench_screening(args: argparse.Namespace) -> int:
    """Benchmark 1:N screening on real faces padded with distractors (time, memory, recall, FPIR/FNIR)."""
    from shell import bench_screening

    report = bench_screening.run(
        [e for e in args.engines.split(",") if e], sizes=[int(n) for n in args.sizes.split(",") if n],
        enrolled=args.enrolled, recall_queries=args.recall_queries, repeats=args.repeats,
        fpir=args.fpir, seed=args.seed, data=args.data or bench_screening.LFW, cache_dir=args.cache,
        alternatives=args.alternatives,
        **({} if args.coarse_min is None else {"coarse_min": args.coarse_min}))
    if args.json:
        print_json(report)
    else:
        print(bench_screening.text(report))
    return 0


def cmd_bench_command(args: argparse.Namespace) -> int:
    """Benchmark the command server (ingest rate, live push latency, RSS)."""
    from shell import bench_command

    report = bench_command.run(clients=args.clients, duration_s=args.duration, batch=args.batch,
                       rate_per_gate=args.rate_per_gate, replicas=args.replicas,
                       client_procs=args.client_procs)
    if args.json:
        print_json(report)
    else:
        c = report["conditions"]
        print(f"{report['events_per_s']} events/s stored; push p50 {report['push_p50_ms']} ms, "
              f"p95 {report['push_p95_ms']} ms, p99 {report['push_p99_ms']} ms to {report['clients']} clients "
              f"({report['clients_failed']} failed, {report['client_resyncs']} resyncs); RSS {report['rss_mb']} MB\n"
              f"conditions: {c['fanout_replicas']} fan-out replica(s), {c['client_processes']} client process(es), "
              f"coalescing {c['live_interval_s']} s (zones; gates every {c['gates_every_s']} s), {c['cpus']} cores, "
              f"load {c['load_avg_1min'][0]}->{c['load_avg_1min'][1]}; CPU ingest {c['ingest_cpu_pct']}%, "
              f"replicas {c['replicas_cpu_pct']}%, live clients {c['clients_cpu_pct']}%; {c['gates']} gates x {c['batch']}-event batches, "
              f"{c['duration_s']} s")
    return 0


def cmd_bench_presence(args: argparse.Namespace) -> int:
    """Benchmark presence propagation between gates."""
    from shell import bench_presence

    report = bench_presence.run(gates=args.gates, tickets=args.tickets, rate=args.rate)
    if args.json:
        print_json(report)
    else:
        p = report["propagation_ms"]
        print(f"{report['admitted']} admissions at {report['conditions']['gates']} gates: gate A -> gate B "
              f"p50 {p['p50']} ms, p95 {p['p95']} ms, p99 {p['p99']} ms, max {p['max']} ms; "
              f"all gates p99 {report['all_gates_ms']['p99']} ms; missing {report['missing_pairs']}")
    return 0


def cmd_bench_camera(args: argparse.Namespace) -> int:
    """Benchmark one crowd-sensing camera (speed on one core, count and line error)."""
    from shell import bench_camera

    report = bench_camera.run(seeds=args.seeds)
    if args.csrnet:
        report["csrnet"] = bench_camera.run_csrnet()
    if args.json:
        print_json(report)
    else:
        print(bench_camera.text(report))
    return 0
