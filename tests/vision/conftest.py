"""Fixtures of the vision tests."""

from __future__ import annotations

import pytest

from vision.yunet import YuNet


@pytest.fixture(scope="module")
def yunet() -> YuNet:
    """OpenCV Zoo's YuNet detector, loaded once per test module."""
    return YuNet()
