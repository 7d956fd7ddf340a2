"""utils.models: the CIFAR ResNets of He et al. (2016)."""

import pytest
import torch
from torch import nn

from utils import resnet20, resnet56, resnet_cifar
from utils.models import count_params


def test_parameter_counts_match_the_paper():
    # He et al. (2016), Table 6: ResNet-20 0.27M, ResNet-56 0.85M parameters
    assert 0.265e6 < count_params(resnet20()) < 0.275e6
    assert 0.845e6 < count_params(resnet56()) < 0.855e6


@pytest.mark.parametrize("depth", [8, 20, 56, 110])
def test_depth_counts_weighted_layers(depth):
    model = resnet_cifar(depth)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    assert convs + linears == depth  # 6n+2 weighted layers, as the name says


@pytest.mark.parametrize("head", ["avg", "concat"])
@pytest.mark.parametrize("num_classes", [10, 100])
def test_output_shape_and_backward(head, num_classes):
    model = resnet_cifar(20, num_classes, width=8, head=head)
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, num_classes)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_concat_head_pools_avg_and_max():
    model = resnet_cifar(8, head="concat", width=4)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and linears[0].in_features == 2 * 16  # 2 x (4 x width) channels


def test_width_scales_channels():
    assert count_params(resnet_cifar(20, width=32)) > 3.5 * count_params(resnet_cifar(20))


def test_channels_last_gives_same_output():
    torch.manual_seed(0)
    model = resnet_cifar(8).eval()
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    cl = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(ref, cl, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("depth, near", [(50 + 1, "50 and 56"), (21, "20 and 26"), (5, "8 and 14"),
                                         (18, "14 and 20")])
def test_bad_depth_names_nearest_valid(depth, near):
    with pytest.raises(ValueError, match=f"6n\\+2.*nearest valid depths are {near}"):
        resnet_cifar(depth)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth="20"), "6n\\+2"),
    (dict(width=0), "width"),
    (dict(num_classes=1), "num_classes"),
    (dict(head="max"), "head must be 'avg'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet_cifar(**{"depth": 20, **kwargs})
