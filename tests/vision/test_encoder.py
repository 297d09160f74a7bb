"""The numpy descriptor network against dlib's own, on the shared photos and on broken models."""

from __future__ import annotations

from pathlib import Path

import dlib
import face_recognition
import face_recognition_models
import numpy as np
import pytest
from support import shared

from vision import dlibface as faces
from vision.encoder import (
    STAGES,
    DescriptorNet,
    ModelFormatError,
    _add_padded,
    _Reader,
    expected_convolutions,
    read_model,
)

MODEL = Path(face_recognition_models.face_recognition_model_location())
PHOTOS = ("examples__obama.jpg", "examples__biden.jpg", "examples__two_people.jpg",
          "examples__alex-lacamoire.png", "examples__obama_small.jpg", "tests__obama_partial_face2.jpg")


@pytest.fixture(scope="module")
def net() -> DescriptorNet:
    return DescriptorNet.from_file(MODEL)


def test_model_file_holds_the_expected_network(net: DescriptorNet) -> None:
    convs = expected_convolutions()
    assert len(convs) == 1 + 2 * sum(blocks for _, blocks, _ in STAGES) == 29
    assert [(c.kernel, c.stride, c.padding) for c in net.convs] == [(k, s, p) for _, _, k, s, p in convs]
    assert [c.matrix.shape for c in net.convs] == [(ci * k * k, f) for f, ci, k, _, _ in convs]
    assert net.fc.shape == (256, 128)


def test_descriptors_equal_dlibs_on_the_shared_photos(net: DescriptorNet) -> None:
    images = shared("faces", "images")
    chips = 0
    for name in PHOTOS:
        path = images / name
        if not path.exists():
            continue
        rgb = face_recognition.load_image_file(path)
        for box in face_recognition.face_locations(rgb):
            shape = face_recognition.api.pose_predictor_5_point(rgb, dlib.rectangle(box[3], box[0], box[1], box[2]))
            chip = np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.25))
            ref = np.asarray(face_recognition.api.face_encoder.compute_face_descriptor(chip))
            mine = net(chip)
            assert mine.dtype == np.float64 and mine.shape == (128,)
            assert np.abs(mine - ref).max() < 1e-5, name
            chips += 1
    assert chips >= 6


def test_engines_agree_through_faces_analyse() -> None:
    rgb = faces.load_rgb(shared("faces", "images", "examples__obama2.jpg"))
    fast = faces.analyse(rgb, detect_width=640, engine=faces.Engine.NUMPY)
    slow = faces.analyse(rgb, detect_width=640, engine=faces.Engine.DLIB)
    assert fast.encoding is not None and slow.encoding is not None
    assert faces.distance(fast.encoding, slow.encoding) < 1e-5
    assert faces.numpy_net() is not None  # the self-check against dlib passed on this machine


def test_zero_padded_sum_is_dlibs_add_prev() -> None:
    a = np.ones((3, 3, 4), np.float32)
    b = np.full((4, 4, 2), 2.0, np.float32)
    out = _add_padded(a, b)
    assert out.shape == (4, 4, 4)
    assert out[0, 0].tolist() == [3, 3, 1, 1]
    assert out[3, 3].tolist() == [2, 2, 0, 0]
    assert out[0, 3].tolist() == [2, 2, 0, 0]


@pytest.mark.parametrize("damage", ["truncated", "no_fc", "wrong_stride", "tensor_overrun", "empty"])
def test_damaged_model_files_raise_a_clear_error(damage: str) -> None:
    data = MODEL.read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "no_fc":
        data = data.replace(b"\x01\x04fc_2", b"\x01\x04fc_9")
    elif damage == "wrong_stride":  # the second convolution (3x3, stride 1) claims stride 3
        r = _Reader(data, data.index(b"\x01\x05con_4", data.index(b"\x01\x05con_4") + 1))
        r.string()
        r.tensor()
        assert (r.int(), r.int(), r.int()) == (32, 3, 3)  # filters, nr, nc; stride_y is next
        pos = r.pos
        blob = bytearray(data)
        assert blob[pos:pos + 2] == b"\x01\x01"  # stride 1 as a 1-byte dlib integer
        blob[pos + 1] = 3
        data = bytes(blob)
    elif damage == "tensor_overrun":
        at = data.index(b"\x01\x04fc_2")
        data = data[: at + 6 + 4 + 64]  # fc header, both sizes, part of the tensor header
    else:
        data = b""
    with pytest.raises(ModelFormatError):
        read_model(data)


def test_a_disagreeing_network_falls_back_to_dlib(monkeypatch: pytest.MonkeyPatch) -> None:
    real = DescriptorNet.from_file(MODEL)
    skewed = DescriptorNet(real.convs, real.fc * np.float32(1.01))  # 1% off: must be refused
    monkeypatch.setattr(faces.DescriptorNet, "from_file", classmethod(lambda cls, path: skewed))
    faces.numpy_net.cache_clear()
    try:
        assert faces.numpy_net() is None
        rgb = faces.load_rgb(shared("faces", "images", "examples__biden.jpg"))
        box = faces.detect(rgb, detect_width=640)[0]
        via_fallback = faces.encode(rgb, box)  # numpy engine asked for, dlib's used
        direct = faces.encode(rgb, box, engine=faces.Engine.DLIB)
        assert np.array_equal(via_fallback, direct)
    finally:
        faces.numpy_net.cache_clear()
