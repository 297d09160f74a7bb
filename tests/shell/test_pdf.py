"""shell/pdf.py: finding Chromium and printing with it; a missing renderer is an error that says
what to install, a hung one is killed with its children, a failed one leaves no file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shell import pdf
from shell.errors import RendererMissing, RenderError


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_chromium_is_found_on_path_or_given(tmp_path: Path) -> None:
    fake = script(tmp_path / "chromium-browser", "exit 0")
    assert pdf.find_chromium(which=lambda name: str(fake) if name == "chromium-browser" else None) == fake
    assert pdf.find_chromium(fake, which=lambda name: None) == fake


def test_no_chromium_is_an_error_naming_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "DEBIAN", tmp_path / "no-chromium")
    with pytest.raises(RendererMissing) as err:
        pdf.find_chromium(which=lambda name: None)
    assert "chromium, chromium-browser, google-chrome" in str(err.value)
    assert "apt-get install chromium" in str(err.value)
    with pytest.raises(RendererMissing, match="--chromium .*nope: no executable"):
        pdf.find_chromium(tmp_path / "nope")
    not_executable = tmp_path / "chromium"
    not_executable.write_text("")
    with pytest.raises(RendererMissing):
        pdf.find_chromium(not_executable)


def test_a_hung_renderer_is_killed_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    hung = script(tmp_path / "hung", f"sleep 60 & echo $! > {pidfile}; wait")
    page = tmp_path / "page.html"
    page.write_text("<p>x</p>")
    started = time.monotonic()
    with pytest.raises(RenderError, match="did not finish printing the PDF within 1 s"):
        pdf.print_to_pdf(page, tmp_path / "out.pdf", chromium=hung, timeout_s=1)
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)  # the renderer's own children went with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.pid", "hung", "page.html"]  # no PDF, no part


def test_a_renderer_that_writes_no_pdf_fails_and_leaves_nothing(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>x</p>")
    out = tmp_path / "out.pdf"
    out.write_bytes(b"%PDF-1.4 the report of yesterday")  # an older PDF stays as it was
    liar = script(tmp_path / "liar", 'for a; do case "$a" in --print-to-pdf=*) echo "not a pdf" > "${a#*=}";; '
                                     'esac; done; echo "boom" >&2; exit 0')
    with pytest.raises(RenderError, match=r"did not print page.html to PDF \(exit 0\): boom"):
        pdf.print_to_pdf(page, out, chromium=liar)
    assert out.read_bytes() == b"%PDF-1.4 the report of yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liar", "out.pdf", "page.html"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
