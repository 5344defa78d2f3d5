"""A version's fitted model on disk: saved as a skops file, read back without running code it names.

New versions are skops files (``model.skops``): a zip of a JSON schema and
arrays that skops rebuilds node by node, never through pickle. Which types a
file needs beyond skops's own safe set is read from its schema alone (nothing
imported, nothing constructed); each must lie in ``model.allowed_modules`` or be
one of the few :data:`ALWAYS_TRUSTED`, and the load then trusts exactly those
types by name. A file that names anything else (``os.system``, ``builtins.exec``,
a class of an unlisted package) is refused before any of it is built, so not
even someone who can write the registry and sign with its key can make a load
run their code.

Versions registered before skops are pickles (``model.joblib``). A pickle runs
whatever it names while it loads, and nothing can read that off it first, so the
registry hands one to :func:`load_pickle` only once its bytes' HMAC verified with
the repository's key (``registry.load_model``).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from typing import Any

from lowops.errors import IntegrityError
from lowops.model.allowlist import permits

# What scikit-learn pipelines carry from outside scikit-learn that skops does not trust by itself:
# the dtype an imputer records of its input (``numpy.dtype``, rebuilt from its name: it runs nothing).
ALWAYS_TRUSTED = ("numpy.dtype",)

# What a zip that is not a skops file, or a schema that is not skops's, raises while it is read.
_UNREADABLE = (zipfile.BadZipFile, json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError)


def dumps(model: Any) -> bytes:
    """The bytes of a fitted model as new versions store them (a deflated skops file)."""
    import skops.io as sio

    data: bytes = sio.dumps(model, compression=zipfile.ZIP_DEFLATED)
    return data


def needed_types(data: bytes, where: object) -> list[str]:
    """Every type a skops file needs beyond skops's own safe set, read from its schema (nothing is built).

    Raises:
        IntegrityError: ``data`` is not a skops file.
    """
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except _UNREADABLE as exc:
        raise IntegrityError(f"Refusing to load {where}: it is not a readable skops file ({type(exc).__name__}: "
                             f"{exc}). Roll back with `lowops rollback` or retrain; run `lowops verify`.") from None


def outside(types: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The ``types`` that are neither in the ``allowed`` packages nor :data:`ALWAYS_TRUSTED`."""
    allowed = tuple(allowed)
    return sorted(t for t in types if t not in ALWAYS_TRUSTED and not permits(t, allowed))


def refusal(where: object, refused: list[str], allowed: Iterable[str]) -> str:
    """Why a skops file that needs ``refused`` types is not loaded, and what to do."""
    return (f"Refusing to load {where}: it needs types outside model.allowed_modules ({', '.join(allowed)}) "
            f"and the ones lowops trusts ({', '.join(ALWAYS_TRUSTED)}): {', '.join(refused)}. Nothing in it was "
            "built or run. If the version is yours and you trust that code, list its package under "
            "model.allowed_modules; otherwise the file was tampered with: roll back with `lowops rollback` or "
            "retrain, and run `lowops verify`.")


def load_skops(data: bytes, allowed: Iterable[str], where: object) -> Any:
    """A skops file's model, once every type it needs is allowed; skops is told to trust exactly those.

    Raises:
        IntegrityError: not a skops file, it needs a type outside the allow-list, or it cannot be rebuilt.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = tuple(allowed)
    needed = needed_types(data, where)
    refused = outside(needed, allowed)
    if refused:
        raise IntegrityError(refusal(where, refused, allowed))
    try:
        return sio.loads(data, trusted=needed)
    except UntrustedTypesFoundException as exc:  # skops's own audit of the tree, a second line
        raise IntegrityError(refusal(where, [str(exc)], allowed)) from None
    except (*_UNREADABLE, ImportError) as exc:
        raise IntegrityError(f"Refusing to load {where}: skops cannot rebuild it ({type(exc).__name__}: {exc}). "
                             "Roll back with `lowops rollback` or retrain; run `lowops verify`.") from None


def load_pickle(data: bytes) -> Any:
    """A pickled (joblib) model of a version registered before skops: the caller has verified its HMAC."""
    import io

    import joblib

    return joblib.load(io.BytesIO(data))
