"""A small sentence encoder and the image encoder it is trained against (Reed et al., 2016's joint embedding).

    enc = load_text_encoder()                       # the shipped one (scripts/train_text_encoder.py)
    e = enc.encode(["a thin four leaning left"])    # (1, 128) unit-length sentence embeddings
    tokens = enc.vocab.encode(["a thick 7"])         # (1, L) int64 word ids, 0 = padding, 1 = unknown word

:class:`TextEncoder` is word-level: embeddings, a bidirectional GRU, the mean of its outputs over the
words, a linear map to ``dim`` and unit length. Its :class:`Vocabulary` is saved with its weights, so an
encoder trained on a user's captions keeps its own words; a word it never saw maps to ``<unk>``.
:class:`ImageEncoder` is a small CNN to the same space; the script trains both with a symmetric
contrastive matching loss (image i against caption i among the batch's others, both ways), so that
matching image-caption pairs score higher than mismatched ones: the "matching" objective of Reed et
al.'s joint embedding. Only the text encoder is needed to generate; the image encoder ships too, for
R-precision (does an image retrieve its own caption among 99 others).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

PAD, UNK = 0, 1
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "weights" / "text_encoder.pt"


class Vocabulary:
    """Word ids: 0 is padding, 1 an unknown word, then ``words`` in order."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.ids = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Every word of ``texts`` seen at least ``min_count`` times, most frequent first (ties: alphabetical)."""
        from collections import Counter

        from ganforge.data.captions import tokens

        counts = Counter(t for text in texts for t in tokens(text))
        return cls(sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)))

    def __len__(self) -> int:
        return len(self.words) + 2

    def encode(self, texts: Sequence[str], max_len: int = 32) -> torch.Tensor:
        """(B, L) int64 ids, L the longest text's word count (at most ``max_len``, at least 1), padded with 0."""
        from ganforge.data.captions import tokens

        rows = [[self.ids.get(t, UNK) for t in tokens(text)][:max_len] for text in texts]
        L = max(1, max((len(r) for r in rows), default=1))
        out = torch.zeros(len(rows), L, dtype=torch.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r, dtype=torch.int64)
        return out


class TextEncoder(nn.Module):
    """Word embeddings -> bidirectional GRU -> mean over the words -> linear -> unit length.

    Args:
        vocab: its words (a :class:`Vocabulary` or a list).
        dim: size of the sentence embedding.
        emb: word-embedding size; hidden: the GRU's size per direction.
    """

    def __init__(self, vocab: Vocabulary | Sequence[str], dim: int = 128, emb: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(vocab)
        self.dim, self.emb_dim, self.hidden = dim, emb, hidden
        self.embed = nn.Embedding(len(self.vocab), emb, padding_idx=PAD)
        self.rnn = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) int64 ids, right-padded with 0 -> (B, dim) unit-length embeddings; a text with no known word
        still gets one.

        The GRU runs twice rather than on a packed sequence, so that the encoder traces (TorchScript, ONNX)
        with the batch and the word count as free axes: once on the words as they are, whose forward
        direction at each word has seen only the words before it, and once on the words moved to the right
        end, whose backward direction at each word has seen only the words after it. The result is that of
        a packed bidirectional GRU."""
        mask = tokens != PAD  # (B, L)
        n = mask.sum(1, keepdim=True)  # (B, 1) words per text
        x = self.embed(tokens)  # (B, L, emb); padding embeds to 0
        H = self.hidden
        fwd = self.rnn(x)[0][..., :H]
        pos = torch.ones_like(tokens).cumsum(1) - 1  # (B, L) 0 .. L - 1, from tensors only: L stays a free axis
        shift = pos[:, -1:] + 1 - n  # (B, 1): the left padding that ends each text at position L - 1
        right = pos >= shift  # (B, L): where the shifted words are
        src = (pos - shift).clamp_min(0)[..., None].expand(-1, -1, x.shape[2])
        bwd = self.rnn(torch.gather(x, 1, src) * right[..., None])[0][..., H:]
        summed = torch.cat([(fwd * mask[..., None]).sum(1), (bwd * right[..., None]).sum(1)], 1)  # (B, 2 hidden)
        pooled = summed / n.clamp_min(1).to(summed.dtype)
        return F.normalize(self.out(pooled), dim=1)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence embeddings (B, dim) of ``texts``, on this encoder's device."""
        return self(self.vocab.encode(texts).to(self.out.weight.device))

    def spec(self) -> dict[str, Any]:
        return {"words": self.vocab.words, "dim": self.dim, "emb": self.emb_dim, "hidden": self.hidden}


class ImageEncoder(nn.Module):
    """A small CNN from (B, C, S, S) images in [-1, 1] (S = 28 or 32) to (B, dim) unit-length embeddings."""

    def __init__(self, channels: int = 3, dim: int = 128, width: int = 32) -> None:
        super().__init__()
        self.channels, self.dim, self.width = channels, dim, width
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 3, 1, 1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, 1, 1), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(16 * w, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:  # gray digits into a colour encoder, or the reverse
            x = x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x.mean(1, keepdim=True)
        return F.normalize(self.net(x), dim=1)

    def spec(self) -> dict[str, Any]:
        return {"channels": self.channels, "dim": self.dim, "width": self.width}


def matching_loss(img: torch.Tensor, txt: torch.Tensor, temperature: float = 0.1,
                  same: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric contrastive matching loss of paired unit embeddings (B, dim): cross-entropy of each image
    against all captions of the batch and of each caption against all images, the pair's own as the target.
    ``same`` (B, B) bool marks other pairs that mean the same (equal words): they are left out as negatives."""
    logits = img @ txt.T / temperature  # (B, B)
    if same is not None:
        off = same & ~torch.eye(len(img), dtype=torch.bool, device=img.device)
        logits = logits.masked_fill(off, float("-inf"))
    target = torch.arange(len(img), device=img.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def save_encoders(path: str | Path, text: TextEncoder, image: ImageEncoder, **info: Any) -> None:
    """Both encoders to one file that ``torch.load(weights_only=True)`` reads (written atomically)."""
    import os
    import tempfile

    path = Path(path)
    blob = {"text": text.state_dict(), "text_spec": text.spec(), "image": image.state_dict(),
            "image_spec": image.spec(), **info}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: str | Path | None) -> dict[str, Any]:
    from ganforge.errors import DataError

    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"text encoder {path} not found (scripts/train_text_encoder.py makes it)") from None
    except Exception as e:  # a truncated or foreign file
        raise DataError(f"text encoder {path} cannot be read ({type(e).__name__}: {str(e)[:100]})") from None


def load_text_encoder(path: str | Path | None = None) -> TextEncoder:
    """The text encoder saved at ``path`` (None: the shipped one), in eval mode, gradients off."""
    blob = _load(path)
    s = blob["text_spec"]
    enc = TextEncoder(s["words"], dim=s["dim"], emb=s["emb"], hidden=s["hidden"])
    enc.load_state_dict(blob["text"])
    return enc.eval().requires_grad_(False)


def load_image_encoder(path: str | Path | None = None) -> ImageEncoder:
    """The image encoder trained with the text encoder at ``path`` (None: the shipped one)."""
    blob = _load(path)
    enc = ImageEncoder(**blob["image_spec"])
    enc.load_state_dict(blob["image"])
    return enc.eval().requires_grad_(False)


def encoder_info(path: str | Path | None = None) -> dict[str, Any]:
    """What the script recorded beside the weights (retrieval accuracy, data, seed)."""
    return {k: v for k, v in _load(path).items() if k not in ("text", "image")}
