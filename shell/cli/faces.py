"""`eventguard faces …`: face engine tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shell.cli.common import add, print_json


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    fc = sub.add_parser("faces", help="face tools").add_subparsers(dest="faces_command", metavar="ACTION",
                                                                    required=True)
    sp = add(fc, "compare", cmd_faces_compare, "distance between the largest faces of two photos")
    sp.add_argument("a", type=Path)
    sp.add_argument("b", type=Path)
    sp.add_argument("--tolerance", type=float, default=0.6)


def cmd_faces_compare(args: argparse.Namespace) -> int:
    """Compare the largest face in two photos."""
    from vision import dlibface as faces
    from vision.errors import ImageError

    try:
        print_json(dict(faces.compare_files(args.a, args.b, tolerance=args.tolerance)))
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
