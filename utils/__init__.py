"""Shared code of the book: data, models, run profiles (and, in later chapters, schedules,
the LR range test, training loop and sweeps). Each function's docstring names the chapter that
explains it."""

from .data import CifarData, TensorLoader, cifar_dls, cifar_loaders, load_cifar
from .models import resnet20, resnet56, resnet_cifar
from .profiles import Profile, get_profile, seed_everything

__all__ = [
    "CifarData", "TensorLoader", "cifar_dls", "cifar_loaders", "load_cifar",
    "resnet20", "resnet56", "resnet_cifar",
    "Profile", "get_profile", "seed_everything",
]
