"""Where the image data live, with the standard library only (the command line imports this
without loading torch or numpy).

``resolve_data_dir``: the folder the loaders read, ``data_dir``, else ``$LSA_DATA_DIR``, else
``default_data_dir()`` when it exists. ``default_data_dir``: where
``python -m lsa_utils data fetch`` puts the data when no other folder is named.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """The folder ``python -m lsa_utils data fetch`` fills when no other is named, and the last
    place the loaders look: ``$XDG_CACHE_HOME/lsa_utils/data``, by default
    ``~/.cache/lsa_utils/data``."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "lsa_utils" / "data"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """``data_dir``, else ``$LSA_DATA_DIR``, else ``default_data_dir()`` when it exists, else
    ``None``; a folder named by ``data_dir`` or ``LSA_DATA_DIR`` must exist."""
    chosen = data_dir if data_dir is not None else os.environ.get("LSA_DATA_DIR") or None
    if chosen is None:
        default = default_data_dir()
        return default if default.is_dir() else None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        origin = "data_dir" if data_dir is not None else "LSA_DATA_DIR"
        raise ValueError(
            f"{origin}={str(chosen)!r} is not allowed: no such folder. Point it at a folder with "
            "MNIST/raw/*-ubyte[.gz] or cifar-10-batches-py/, or unset it to use scikit-learn digits"
        )
    return path
