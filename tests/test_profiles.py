"""utils.profiles: run profiles and repeatable seeding."""

import pytest
import torch

from utils import get_profile, resnet_cifar, seed_everything
from utils.profiles import PROFILES


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_by_name_and_env(name, monkeypatch):
    p = get_profile(name)
    assert p.name == name and isinstance(p.device, torch.device)
    assert (p.depth - 2) % 6 == 0 and p.bs > 0 and p.epochs >= 1
    monkeypatch.setenv("BOOK_PROFILE", name.upper())
    assert get_profile() == p


def test_scales_grow_from_smoke_to_gpu():
    s, c, g = (get_profile(n) for n in ("smoke", "cpu", "gpu"))
    assert s.n_train < c.n_train and g.n_train is None  # None: the full training set
    assert s.depth < c.depth < g.depth == 56


def test_default_depends_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "gpu"


def test_unknown_profile_lists_valid_names(monkeypatch):
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        get_profile("laptop")
    monkeypatch.setenv("BOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast'.*BOOK_PROFILE"):
        get_profile()


def test_overrides():
    assert get_profile("cpu", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="unknown profile setting"):
        get_profile("cpu", epoch=2)


def test_amp_only_on_cuda_gpu_profile():
    p = get_profile("gpu")
    assert p.amp == (p.device.type == "cuda") and p.channels_last == p.amp
    assert not get_profile("cpu").amp


def _losses(seed):
    seed_everything(seed)
    model = resnet_cifar(8, width=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    out = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x + 0.1 * torch.randn_like(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


def test_same_seed_same_losses():
    assert _losses(0) == _losses(0)
    assert _losses(0) != _losses(1)
