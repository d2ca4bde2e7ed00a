"""Small digit / clothing classifiers for 28x28 grey images: the feature networks of the image metrics.

    clf = DigitClassifier(num_classes=10, width=32, feature_dim=128)
    logits = clf(x)          # x (B, 1, 28, 28) in [-1, 1] -> (B, 10)
    f = clf.features(x)      # (B, 128): the penultimate layer, the space FID / KID / precision-recall use
    clf2 = DigitResNet(num_classes=10, width=24)
    f2 = clf2.features(x)    # (B, 96): the second, independent ruler (a residual net, global average pool)

Trained by ``scripts/train_classifier.py`` (``--arch cnn`` / ``--arch resnet``); the shipped weights live in
``ganforge/weights/`` and are loaded through ``ganforge.metrics.features.ClassifierFeatures``. About 0.2 M
parameters each (< 1 MB of fp32 weights). ``NETS`` names the architectures a weights file may declare.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]


class DigitClassifier(nn.Module):
    """conv-conv-pool-conv-conv-pool, a 4x4 average pool, a ReLU feature layer, a linear head.

    Args:
        num_classes: number of output logits (10 for MNIST and Fashion-MNIST).
        width: channels of the first two convolutions; the last two have ``2 * width``.
        feature_dim: size of the penultimate (feature) layer returned by ``features``.
        in_channels: image channels (1: grey).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, feature_dim: int = 128, in_channels: int = 1) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("width", width), ("feature_dim", feature_dim),
                        ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.num_classes, self.feature_dim, self.in_channels = num_classes, feature_dim, in_channels
        self.body = nn.Sequential(
            *_conv(in_channels, width), *_conv(width, width), nn.MaxPool2d(2),  # (B, w, 14, 14)
            *_conv(width, 2 * width), *_conv(2 * width, 2 * width), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (B, 2w * 16)
        )
        self.embed = nn.Sequential(nn.Linear(2 * width * 16, feature_dim), nn.ReLU())  # (B, feature_dim)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, 28, 28) in [-1, 1] -> (B, feature_dim) penultimate-layer activations (after ReLU)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, 28, 28) in [-1, 1] -> (B, num_classes) logits."""
        return self.head(self.drop(self.features(x)))


class _ResBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (a strided 1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip: nn.Module = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))  # (B, c_out, H / stride, W / stride)
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


class DigitResNet(nn.Module):
    """A small residual net: a conv stem, three residual blocks (the last two strided), a global average pool.

    A second feature network built unlike ``DigitClassifier``: strided convolutions instead of max pooling,
    shortcuts, and the features are the globally average-pooled last block (no learnt embedding layer).

    Args:
        num_classes: number of output logits (10 for MNIST).
        width: channels of the stem and the first block; the second block has ``2 * width``, the third
            ``4 * width``, which is also the feature size (``feature_dim``).
        in_channels: image channels (1: grey).
    """

    def __init__(self, num_classes: int = 10, width: int = 24, in_channels: int = 1) -> None:
        super().__init__()
        for name, v in (("num_classes", num_classes), ("width", width), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.num_classes, self.feature_dim, self.in_channels = num_classes, 4 * width, in_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),  # (B, w, 28, 28)
            _ResBlock(width, width, 1),  # (B, w, 28, 28)
            _ResBlock(width, 2 * width, 2),  # (B, 2w, 14, 14)
            _ResBlock(2 * width, 4 * width, 2),  # (B, 4w, 7, 7)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 4w)
        )
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(4 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, 28, 28) in [-1, 1] -> (B, 4 * width) pooled activations of the last block."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, 28, 28) in [-1, 1] -> (B, num_classes) logits."""
        return self.head(self.drop(self.features(x)))


#: the architectures a classifier weights file may name in its "net" key (absent: "cnn", the first one)
NETS: dict[str, type[nn.Module]] = {"cnn": DigitClassifier, "resnet": DigitResNet}
