"""``model.allowed_modules``: the packages whose code lowops may build an estimator from, or load one with.

One rule serves both: the class named in the config, and every type a saved
model file needs, must lie in one of the allowed packages (``sklearn`` allows
``sklearn.ensemble.HistGradientBoostingClassifier``; ``sklearn.ensemble`` would
allow only what is under it).
"""

from __future__ import annotations

from collections.abc import Iterable


def permits(path: str, allowed: Iterable[str]) -> bool:
    """Whether the dotted ``path`` (a class or a type) lies in one of the ``allowed`` packages."""
    return any(path == prefix or path.startswith(prefix.rstrip(".") + ".") for prefix in allowed)
