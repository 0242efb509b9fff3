"""Standard FID features: InceptionV3's 2048-wide pool layer (Heusel et al. 2017), through
torchmetrics' port of the TensorFlow network (needs torch-fidelity: `pip install
'picodiff[fid]'`). Its weights file is never downloaded here: it is read from
--inception-weights PATH or from the torch hub cache.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from ..errors import UserError
from .cache import digest
from .extractor import FeatureExtractor

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
# the same weights under torch-fidelity's name for them
WEIGHTS_NAMES = (WEIGHTS_FILE, "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
)


def hub_checkpoints() -> Path:
    """Where torch keeps downloaded weights ($TORCH_HOME/hub/checkpoints by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(explicit: Path | None = None) -> Path:
    """The Inception weights file: `explicit`, else the torch hub cache; else a UserError
    naming the file and where to put it."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise UserError(f"--inception-weights {explicit}: no such file")
        return Path(explicit)
    for name in WEIGHTS_NAMES:
        if (hub_checkpoints() / name).is_file():
            return hub_checkpoints() / name
    raise UserError(
        f"Inception features need the FID InceptionV3 weights {WEIGHTS_FILE} and nothing is "
        f"downloaded here: copy it (from {WEIGHTS_URL}) into {hub_checkpoints()}/ or pass "
        "--inception-weights PATH; or use --features digits or MODULE:CALLABLE"
    )


class InceptionFeatures(FeatureExtractor):
    """uint8 [B, C, H, W] (gray is repeated to RGB; resized to 299 inside) -> [B, 2048]."""

    name = "inception"

    def __init__(self, weights: Path | None = None):
        super().__init__()
        self.weights = find_weights(weights)
        if importlib.util.find_spec("torch_fidelity") is None:
            raise UserError(
                "Inception features need torch-fidelity (and torchvision): "
                "pip install 'picodiff[fid]'"
            )
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(self.weights),
        )
        self._digest = digest(self.weights.read_bytes())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.net(images.contiguous())

    def fingerprint(self) -> str:
        return digest(self.name, self._digest)
