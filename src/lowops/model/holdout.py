"""Which rows a version trained on, and which it held out.

The hold-out is a deterministic sample of entities: an entity key whose hash
(salted, in [0, 1)) falls below ``train.holdout_share`` is held out. Training
leaves those entities out of every window it reads, and its benchmark is their
rows of the newest window. Because the rule depends on the key alone, every
version trained under the same share holds out the same entities: the new
version, the live one and those live at T-1 and T-2 can be compared on the
hold-out rows of any window without one of them having learnt them.

Versions trained before this rule (no ``holdout`` in their lineage) held out
the whole newest window and trained on every row of the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

SALT = "lowops-holdout"


def key_share(keys: np.ndarray, salt: str) -> np.ndarray:
    """A deterministic number in [0, 1) per entity key: the same key always gets the same number."""
    return np.array([int.from_bytes(hashlib.sha256(f"{salt}:{k}".encode()).digest()[:8], "big") / 2**64
                     for k in keys], dtype=float)


@dataclass(frozen=True)
class HoldoutRule:
    """The entities a version held out: those whose key hashes (with ``salt``) below ``share``."""

    share: float
    salt: str = SALT

    def held_out(self, keys: np.ndarray) -> np.ndarray:
        """Per row: the row's entity is held out."""
        return key_share(np.asarray(keys), self.salt) < self.share

    def to_dict(self) -> dict[str, Any]:
        return {"share": self.share, "salt": self.salt}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HoldoutRule:
        return cls(share=float(data["share"]), salt=str(data.get("salt", SALT)))
