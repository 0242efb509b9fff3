"""A small digits classifier: FID features where no Inception weights exist, and class
probabilities to measure a digits model (does it draw recognisable, balanced digits?).

Trained in a few seconds on scikit-learn's 1,797 8x8 scans (`sklearn.datasets.load_digits`,
shipped with scikit-learn, nothing downloaded) with one-pixel random shifts, deterministically
(fixed seeds, full-batch Adam, one thread so that the thread count cannot change the weights),
then cached in `cache_dir()/features/`. About 96% of the 297 held-out scans are recognised.
Any image is turned gray and area-resized to 8x8 first, so it reads digits stores of any
resolution. Its 64-wide penultimate layer gives the features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn

from ..data.sources.digits import load_digits
from .cache import cache_dir, digest, load_tensors, save_tensors
from .extractor import FeatureExtractor

VERSION = "1"  # bump when the architecture or the training recipe changes
SIDE, CLASSES, FEATURES = 8, 10, 64
TRAIN_ROWS, STEPS, SEED = 1500, 300, 0  # the remaining 297 scans measure its accuracy


class DigitsClassifier(FeatureExtractor):
    """uint8 [B, C, H, W] -> 64 features (`forward`) or 10 class probabilities."""

    name = "digits"

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # [B, 8, 4, 4]
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),  # [B, 256]
            nn.Linear(16 * (SIDE // 2) ** 2, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, CLASSES)

    @staticmethod
    def prepare(images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> gray float [B, 1, 8, 8] in [0, 1] (area-averaged)."""
        gray = images.float().mean(dim=1, keepdim=True) / 255
        if gray.shape[-1] % SIDE == 0 and gray.shape[-2] % SIDE == 0:
            return F.interpolate(gray, size=(SIDE, SIDE), mode="area")
        return F.interpolate(gray, size=(SIDE, SIDE), mode="bilinear", antialias=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(images))

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 10]: the probability of each digit 0-9."""
        return self.head(self(images)).softmax(dim=-1)

    def fingerprint(self) -> str:
        tensors = sorted(self.state_dict().items())
        return digest(self.name, VERSION, *(v.numpy().tobytes() for _, v in tensors))


def train_digits_classifier() -> tuple[DigitsClassifier, float]:
    """A freshly trained classifier and its accuracy on the held-out scans (same every run)."""
    pixels, labels = load_digits()
    x = torch.from_numpy(pixels)[:, None]  # uint8 [1797, 1, 8, 8]
    y = torch.from_numpy(labels).long()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            model = DigitsClassifier()
            _fit(model, x[:TRAIN_ROWS], y[:TRAIN_ROWS])
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        predicted = model.probabilities(x[TRAIN_ROWS:]).argmax(dim=-1)
    return model.eval(), float((predicted == y[TRAIN_ROWS:]).float().mean())


def _fit(model: DigitsClassifier, x: torch.Tensor, y: torch.Tensor) -> None:
    """Full-batch Adam; each step sees the images shifted by up to one pixel."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    shifts = torch.Generator().manual_seed(SEED)
    padded = F.pad(x, (1, 1, 1, 1))
    for _ in range(STEPS):
        dy, dx = torch.randint(0, 3, (2,), generator=shifts).tolist()
        batch = padded[..., dy : dy + SIDE, dx : dx + SIDE]
        loss = F.cross_entropy(model.head(model(batch)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def load_digits_classifier() -> DigitsClassifier:
    """The cached classifier, trained (and cached) on first use."""
    path = cache_dir() / "features" / f"digits-v{VERSION}.safetensors"
    model = DigitsClassifier()
    try:
        model.load_state_dict(load_tensors(path)[0])
        return model.eval()
    except (OSError, SafetensorError, RuntimeError, KeyError):  # absent or unusable: retrain
        pass
    model, accuracy = train_digits_classifier()
    save_tensors(path, model.state_dict(), {"version": VERSION, "val_accuracy": f"{accuracy:.4f}"})
    return model
