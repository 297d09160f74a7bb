"""`eventguard qr …`: QR decoding tools."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from shell.cli.common import add, print_json


def register(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    qr = sub.add_parser("qr", help="QR tools").add_subparsers(dest="qr_command", metavar="ACTION", required=True)
    sp = add(qr, "decode", cmd_qr_decode, "decode QR codes; one JSON object per image")
    sp.add_argument("images", nargs="+", type=Path)


def cmd_qr_decode(args: argparse.Namespace) -> int:
    """Decode QR codes in image files."""
    from gate import qr
    from vision.errors import ImageError

    rc = 0
    for f in args.images:
        try:
            print_json({"file": str(f), "texts": qr.decode_file(f)})
        except ImageError as err:
            print_json({"file": str(f), "texts": [], "error": str(err)})
            rc = 1
    return rc
