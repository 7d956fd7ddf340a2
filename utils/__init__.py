"""Shared code of the book: run profiles, data, models, schedules, the LR range test and the
schedule explorer. Each function's docstring names the chapter that explains it."""

import warnings

# fastai (imported by utils.schedules) still calls torch.jit.script, which recent PyTorch
# deprecates; the warning is about fastai's code, not the reader's, so keep it out of the book.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from .data import CifarData, TensorLoader, cifar_dls, cifar_loaders, load_cifar
from .lr_finder import RangeTestResult, lr_range_test
from .models import resnet20, resnet56, resnet_cifar
from .profiles import Profile, get_profile, seed_everything
from .schedules import CyclicLRCallback, Scheduler, cyclic_lr, cyclic_momentum, one_cycle
from .widgets import plot_schedule, schedule_explorer

__all__ = [
    "CifarData", "TensorLoader", "cifar_dls", "cifar_loaders", "load_cifar",
    "RangeTestResult", "lr_range_test",
    "resnet20", "resnet56", "resnet_cifar",
    "Profile", "get_profile", "seed_everything",
    "CyclicLRCallback", "Scheduler", "cyclic_lr", "cyclic_momentum", "one_cycle",
    "plot_schedule", "schedule_explorer",
]
