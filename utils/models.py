"""ResNets for 32x32 images, as He et al. (2016, section 4.2) built them for CIFAR-10.

Explained in chapter 0, "The experimental setup". Depth 6n+2: a 3x3 stem convolution, three
stages of n basic blocks with ``width``, 2x``width`` and 4x``width`` channels (the second and
third stage halve the resolution), and a head. ResNet-20 (n=3) and ResNet-56 (n=9) are the
networks of the super-convergence and disciplined-approach papers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and an identity shortcut.

    When the block halves the resolution and doubles the channels, the shortcut subsamples and
    pads the new channels with zeros (He et al.'s "option A"): it adds no parameters, which is
    why ResNet-20 has 0.27M of them, as in the paper.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ConcatPool(nn.Module):
    """Average and max pooling side by side (fastai's ``AdaptiveConcatPool2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], dim=1)


def _head(kind: str, c: int, num_classes: int) -> nn.Module:
    if kind == "avg":  # the paper's: global average pooling and one linear layer
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
    # the original material's fastai-style head: concat pooling and two linear layers
    return nn.Sequential(
        ConcatPool(), nn.BatchNorm1d(2 * c), nn.Dropout(0.25), nn.Linear(2 * c, 512, bias=False),
        nn.ReLU(inplace=True), nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, num_classes),
    )


def _check(depth, num_classes, width, head) -> None:
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        near = ""
        if isinstance(depth, (int, float)):
            lo = 6 * max(1, (int(depth) - 2) // 6) + 2
            near = f"; the nearest valid depths are {lo} and {lo + 6}"
        raise ValueError(f"depth must be 6n+2 with n >= 1 (e.g. 20, 32, 44, 56, 110); "
                         f"got {depth!r}{near}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer (16 in the paper); got {width!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}")
    if head not in ("avg", "concat"):
        raise ValueError(f"head must be 'avg' (the paper's) or 'concat' (avg+max pooling and two "
                         f"linear layers); got {head!r}")


def resnet_cifar(depth: int = 20, num_classes: int = 10, width: int = 16,
                 head: str = "avg") -> nn.Sequential:
    """A CIFAR ResNet of ``depth`` = 6n+2 layers; see chapter 0 and He et al. (2016).

    ``width`` is the channel count of the first stage (16 in the paper). ``head="avg"`` is the
    paper's average pooling + linear layer; ``head="concat"`` is the variant with concatenated
    average and max pooling and two linear layers used by the material this book grew from.
    """
    _check(depth, num_classes, width, head)
    n = (depth - 2) // 6
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
              nn.ReLU(inplace=True)]  # the stride-1 stem: CIFAR images are only 32x32
    c = width
    for stage in range(3):
        c_out = width * 2**stage
        for i in range(n):
            layers.append(BasicBlock(c, c_out, stride=2 if stage and i == 0 else 1))
            c = c_out
    model = nn.Sequential(*layers, _head(head, c, num_classes))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def resnet20(num_classes: int = 10, **kwargs) -> nn.Sequential:
    """ResNet-20 (about 0.27M parameters); see :func:`resnet_cifar`."""
    return resnet_cifar(20, num_classes, **kwargs)


def resnet56(num_classes: int = 10, **kwargs) -> nn.Sequential:
    """ResNet-56 (about 0.85M parameters), the super-convergence paper's network."""
    return resnet_cifar(56, num_classes, **kwargs)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
