"""Errors of the programs (shell/).

EventGuardError (eventguard/errors.py)
 └── RenderError          a page could not be printed to PDF (the renderer failed or hung)
      └── RendererMissing  no headless Chromium to print with (the message says how to get one)
"""

from __future__ import annotations

from eventguard.errors import EventGuardError


class RenderError(EventGuardError):
    """Printing a page to PDF failed: the renderer exited with an error, wrote no PDF, or did
    not finish in time."""


class RendererMissing(RenderError):
    """No Chromium was found to print the page with."""
