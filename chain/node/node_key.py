"""The node's network identity: an Ed25519 key kept in `<chain dir>/network/secret_ed25519` (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

from chain.primitives.crypto import Keypair


class NodeKeyError(ValueError):
    """The node key file exists but cannot be used."""


def load_or_create_node_key(path: Path) -> Keypair:
    path = Path(path)
    if path.exists():
        seed = path.read_bytes()
        if len(seed) != 32:
            raise NodeKeyError(f"{path} holds {len(seed)} bytes; a node key is a 32-byte Ed25519 seed")
        return Keypair.from_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keypair = Keypair.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(keypair.seed)
    return keypair
