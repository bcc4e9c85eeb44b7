"""The one place where the core meets torch.

The core (everything in ``geomrelax`` outside ``geomrelax/optim``) is written for numpy arrays and, where a
route exists, for torch tensors too. It never imports torch at module level: ``import geomrelax`` must work
without torch and stay fast. A torch route is reached only when a tensor is handed in, and then torch is
already loaded (the caller made the tensor), so ``torch_module()`` costs nothing.

Rules (see ARCHITECTURE.md): core modules call ``is_tensor`` / ``torch_module`` / the array adapters here;
they never write ``import torch`` themselves. ``geomrelax/optim`` imports torch directly.
"""

from __future__ import annotations

import sys

__all__ = ["is_tensor", "torch_module"]


def is_tensor(x) -> bool:
    """True for a torch.Tensor (and subclasses such as DTensor), without importing torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def torch_module():
    """The torch module, imported on first use (a clear error when torch is not installed)."""
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch  # noqa: F401  (the only torch import of the core)
        except ImportError as err:  # pragma: no cover - torch is a declared dependency
            raise ImportError("this route needs torch; install it with `pip install torch`") from err
    return torch
