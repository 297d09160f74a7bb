"""dlib's face descriptor network evaluated with numpy: same weights, same output, ~5x faster.

The `dlib-bin` wheel is built without BLAS, so its CPU convolutions make one 128-d encoding
cost ~100 ms here, two thirds of a gate decision. This module runs the *same* network
(dlib_face_recognition_resnet_model_v1: a 29-convolution ResNet on a 150x150 aligned chip) as
im2col + one BLAS matrix product per convolution, using the OpenBLAS that numpy ships, in
~20 ms on one core. Landmarks and the aligned chip still come from dlib
(`dlib.get_face_chip`, as dlib's own `compute_face_descriptor` does), so only the arithmetic
moves. Its output equals dlib's to ~1e-6 (tests/vision/test_encoder.py compares both on the shared
photos), and `DescriptorNet.load` checks one chip against dlib before it is used: if a future
model file or dlib release disagrees, the caller falls back to dlib (see vision/dlibface.py).

The weights are read from face_recognition_models' .dat file, written by dlib's serializer
(dlib/dnn/layers.h, dlib/cuda/tensor.h, dlib/serialize.h): integers are a control byte (low
nibble = byte count, bit 7 = sign) then little-endian bytes; strings are a length then bytes;
tensors are version 2, four dimensions, then raw little-endian float32. Each layer's details
start with its version string ("con_4", "affine_", "fc_2", ...) and appear input-first.
The network, from dlib's dnn_face_recognition_ex.cpp:

    input 150x150 RGB, (pixel - mean) / 256
    con 7x7/2 32, affine, relu, max_pool 3x3/2
    stages of residual blocks (con 3x3, affine, relu, con 3x3, affine; + skip; relu):
        3 x 32;  4 x 64, 3 x 128, 3 x 256, 1 x 256 (the first block of each of these
        downsamples: its first con has stride 2, no padding, and the skip is avg_pool 2x2/2;
        a sum of unequal tensors is zero-padded to the larger, as dlib's add_prev does)
    mean over space, fc 256 -> 128 without bias
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

Chip = npt.NDArray[np.uint8]  # 150x150x3 RGB, aligned like dlib.get_face_chip(size=150, padding=0.25)
F32 = npt.NDArray[np.float32]

CHIP_SIZE = 150
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # input_rgb_image_sized defaults
# (filters, residual blocks, first block downsamples) per stage, input side first
STAGES: tuple[tuple[int, int, bool], ...] = ((32, 3, False), (64, 4, True), (128, 3, True),
                                             (256, 3, True), (256, 1, True))


class ModelFormatError(ValueError):
    """The model file is not the network this module implements."""


def expected_convolutions() -> list[tuple[int, int, int, int, int]]:
    """(filters, channels in, kernel, stride, padding) of every convolution, input side first."""
    out = [(32, 3, 7, 2, 0)]
    channels = 32
    for filters, blocks, down in STAGES:
        for b in range(blocks):
            first_down = down and b == 0
            out.append((filters, channels, 3, 2 if first_down else 1, 0 if first_down else 1))
            out.append((filters, filters, 3, 1, 1))
            channels = filters
    return out


@dataclass(frozen=True, slots=True)
class Conv:
    """A convolution with its following affine layer folded in: y = x (*) W' + b'."""

    matrix: F32  # (channels_in * k * k, filters), rows ordered channel, ky, kx (dlib's order)
    bias: F32  # (filters,)
    kernel: int
    stride: int
    padding: int

    def __call__(self, x: F32) -> F32:
        """x: (H, W, C) float32 -> (H', W', filters)."""
        p, k, s = self.padding, self.kernel, self.stride
        if p:
            x = np.pad(x, ((p, p), (p, p), (0, 0)))
        windows = sliding_window_view(x, (k, k), axis=(0, 1))[::s, ::s]  # (H', W', C, k, k)
        oh, ow = windows.shape[:2]
        out = windows.reshape(oh * ow, -1) @ self.matrix
        out += self.bias
        return out.reshape(oh, ow, -1)


class _Reader:
    """dlib's serialization primitives over a bytes buffer."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        control = self.data[self.pos]
        n = control & 0x0F
        if not 1 <= n <= 8 or self.pos + 1 + n > len(self.data):
            raise ModelFormatError(f"bad integer at byte {self.pos}")
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -value if control & 0x80 else value

    def string(self) -> str:
        n = self.int()
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s.decode("ascii", "replace")

    def tensor(self) -> F32:
        if self.int() != 2:
            raise ModelFormatError(f"unknown tensor version at byte {self.pos}")
        n = 1
        for _ in range(4):
            n *= self.int()
        if n < 0 or self.pos + 4 * n > len(self.data):
            raise ModelFormatError(f"tensor of {n} floats overruns the file at byte {self.pos}")
        a = np.frombuffer(self.data, dtype="<f4", count=n, offset=self.pos).astype(np.float32)
        self.pos += 4 * n
        return a


def _find(data: bytes, version: str) -> list[int]:
    """Offsets of a serialized version string (length as a 1-byte dlib integer, then text)."""
    pattern = bytes([1, len(version)]) + version.encode()
    found, i = [], data.find(pattern)
    while i >= 0:
        found.append(i)
        i = data.find(pattern, i + 1)
    return found


def read_model(data: bytes) -> tuple[list[Conv], F32]:
    """Convolutions (affine folded in) and the fc matrix (256, 128) from a .dat file's bytes.

    Raises ModelFormatError unless the file holds exactly the expected layers and shapes."""
    convs, affines = _find(data, "con_4"), _find(data, "affine_")
    fcs = _find(data, "fc_2")
    expected = expected_convolutions()
    if len(convs) != len(expected) or len(affines) != len(expected) or len(fcs) != 1:
        raise ModelFormatError(f"expected {len(expected)} con_4, {len(expected)} affine_ and one fc_2 "
                               f"layers, found {len(convs)}, {len(affines)}, {len(fcs)}")
    layers: list[Conv] = []
    for (filters, channels, k, stride, pad), at_con, at_aff in zip(expected, convs, affines, strict=True):
        r = _Reader(data, at_con)
        r.string()
        params = r.tensor()
        got = (r.int(), r.int(), r.int(), r.int(), r.int(), r.int(), r.int())  # filters nr nc sy sx py px
        if got != (filters, k, k, stride, stride, pad, pad) or params.size != filters * (channels * k * k + 1):
            raise ModelFormatError(f"convolution at byte {at_con}: {got}, {params.size} parameters; "
                                   f"expected {(filters, channels, k, stride, pad)}")
        a = _Reader(data, at_aff)
        a.string()
        gb = a.tensor()
        if gb.size != 2 * filters:
            raise ModelFormatError(f"affine at byte {at_aff}: {gb.size} parameters, expected {2 * filters}")
        gamma, beta = gb[:filters], gb[filters:]
        w = params[:-filters].reshape(filters, channels * k * k) * gamma[:, None]
        b = params[-filters:] * gamma + beta
        layers.append(Conv(np.ascontiguousarray(w.T, dtype=np.float32), b.astype(np.float32), k, stride, pad))
    f = _Reader(data, fcs[0])
    f.string()
    outputs, inputs = f.int(), f.int()
    fc = f.tensor()
    if (outputs, inputs) != (128, 256) or fc.size != inputs * outputs:
        raise ModelFormatError(f"fc layer {inputs}->{outputs} with {fc.size} parameters, expected 256->128")
    return layers, fc.reshape(inputs, outputs)


def _pool(x: F32, k: int, stride: int, *, mean: bool) -> F32:
    w = sliding_window_view(x, (k, k), axis=(0, 1))[::stride, ::stride]
    out: F32 = w.mean(axis=(3, 4), dtype=np.float32) if mean else w.max(axis=(3, 4))
    return out


def _add_padded(a: F32, b: F32) -> F32:
    """a + b, the smaller zero-padded to the larger in every dimension (dlib's add_prev)."""
    if a.shape == b.shape:
        return a + b
    out = np.zeros(tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True)), np.float32)
    out[:a.shape[0], :a.shape[1], :a.shape[2]] += a
    out[:b.shape[0], :b.shape[1], :b.shape[2]] += b
    return out


class DescriptorNet:
    """The 150x150 chip -> 128-d descriptor network. Thread-safe (no mutable state)."""

    def __init__(self, convs: Sequence[Conv], fc: F32) -> None:
        self.convs, self.fc = tuple(convs), fc

    @classmethod
    def from_file(cls, path: str | Path) -> DescriptorNet:
        """Read a dlib_face_recognition_resnet_model_v1.dat file (raises ModelFormatError)."""
        return cls(*read_model(Path(path).read_bytes()))

    def __call__(self, chip: Chip) -> npt.NDArray[np.float64]:
        """The descriptor of one aligned chip (float64, like dlib's)."""
        if chip.shape != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected a {CHIP_SIZE}x{CHIP_SIZE}x3 chip, got {chip.shape}")
        relu = np.maximum
        x: F32 = (chip.astype(np.float32) - MEAN_RGB) / np.float32(256.0)
        x = _pool(relu(self.convs[0](x), 0), 3, 2, mean=False)
        i = 1
        for _, blocks, down in STAGES:
            for b in range(blocks):
                y = self.convs[i + 1](relu(self.convs[i](x), 0))
                i += 2
                skip = _pool(x, 2, 2, mean=True) if down and b == 0 else x
                x = relu(_add_padded(y, skip), 0)
        v: F32 = x.mean(axis=(0, 1), dtype=np.float32) @ self.fc
        return v.astype(np.float64)
