"""lowops.io.registry: immutable model versions, saved as skops files (pickles of older versions still load)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
import pytest
import skops.io as sio

from lowops.errors import ConfigError, IntegrityError, UnknownVersionError
from lowops.io import keys, model_files, registry
from lowops.io.files import TMP_PREFIX
from lowops.model.card import (
    Contract,
    CrossValidation,
    Estimator,
    Importance,
    Lineage,
    Metrics,
    ModelCard,
    Profile,
)

NAME = "churn"
KEY = b"a test key, 32 bytes and more...."
ALLOWED = ("sklearn",)  # model.allowed_modules' default


@pytest.fixture(autouse=True)
def signed(tmp_path: Path) -> keys.Keys:
    """Each test's repository (tmp_path) signs and checks with KEY, as a command's would with its key."""
    trusted = keys.Keys(KEY, {keys.key_id(KEY): KEY}, "the test key")
    keys.use(tmp_path, lambda: trusted)
    return trusted


def resign(base: Path) -> None:
    """Recompute a version's SHA256SUMS and sign it with KEY: what only the key holder can do."""
    names = sorted(p.name for p in base.iterdir() if p.name not in ("SHA256SUMS", "SIGNATURE"))
    sums = "".join(f"{hashlib.sha256((base / n).read_bytes()).hexdigest()}  {n}\n" for n in names).encode()
    (base / "SHA256SUMS").write_bytes(sums)
    (base / "SIGNATURE").write_text(json.dumps({"key": keys.key_id(KEY), "sha256sums_hmac": keys.mac(KEY, sums)}))


class OpensSentinel:
    """Unpickling this object creates a file: proof of whether bytes were deserialised."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.sentinel), "w"))


class BuildsSentinel:
    """Rebuilding this object from a skops file (skops calls ``__setstate__``) creates a file."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["sentinel"]).touch()
        self.__dict__.update(state)


PAYLOAD_TYPE = f"{BuildsSentinel.__module__}.BuildsSentinel"


def joblib_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def skops_bytes(obj: Any) -> bytes:
    """What the registry stores for a new version."""
    return model_files.dumps(obj)


def load(repo: Path, version: str, allowed: tuple[str, ...] = ALLOWED,
         pickles: bool = True) -> tuple[Any, ModelCard]:
    return registry.load_model(repo, NAME, version, allowed_modules=allowed, pickles=pickles)


def as_pickled_version(base: Path, obj: Any) -> bytes:
    """Make a version what versions registered before skops were: ``model.joblib`` (``obj`` pickled),
    recorded in model.json with its digest and HMAC, signed with KEY. Returns the pickle's bytes."""
    data = joblib_bytes(obj)
    (base / "model.skops").unlink()
    (base / "model.joblib").write_bytes(data)
    meta = json.loads((base / "model.json").read_text())
    meta["artifact"] = {"file": "model.joblib", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                        "hmac_sha256": keys.mac(KEY, data)}
    (base / "model.json").write_text(json.dumps(meta))
    resign(base)
    return data


def card(**changes: Any) -> ModelCard:
    """The smallest card a version can have (the registry adds the version and the artifact)."""
    base = ModelCard(
        model=NAME, task="classification", created_at="2026-01-01T00:00:00Z", reason="", run_id="r000001",
        estimator=Estimator("sklearn.linear_model.LogisticRegression", {}, 0),
        lineage=Lineage(data=(), train_windows=(), holdout_window="2025-01", rows={"train": 0, "holdout": 0},
                        config_hash="", model_config_hash="", sql_sha256={}, git={}, packages={}, lowops="0"),
        metrics=Metrics({"roc_auc": 0.75}, CrossValidation("roc_auc", 0, None, None), "roc_auc", 0.5),
        importance=Importance("", {}), schema=Contract(()), profile=Profile(0.0, 0.0, 0, 0.0))
    return dataclasses.replace(base, **changes)


def register(repo: Path, model_bytes: bytes, **changes: Any) -> tuple[str, dict[str, Any]]:
    registered = registry.register(repo, NAME, model_bytes, card(**changes), "holdout.roc_auc 0.750000\n",
                                   {"roc.png": b"\x89PNG roc", "pr.png": b"\x89PNG pr",
                                    "reference.json": b"{}"})
    return str(registered.version), registered.to_dict()


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_register_writes_a_complete_version(tmp_path: Path) -> None:
    model = skops_bytes({"weights": [1, 2, 3]})
    version, meta = register(tmp_path, model, reason="test")
    assert version == "v0001"
    base = tmp_path / "models" / NAME / "v0001"
    assert sorted(p.name for p in base.iterdir()) == [
        "SHA256SUMS", "SIGNATURE", "metrics.txt", "model.json", "model.skops", "pr.png", "reference.json",
        "roc.png"]
    assert (base / "model.skops").read_bytes() == model
    assert meta["version"] == "v0001"
    assert meta["artifact"] == {"file": "model.skops", "sha256": hashlib.sha256(model).hexdigest(),
                                "bytes": len(model), "hmac_sha256": keys.mac(KEY, model)}
    assert json.loads((base / "model.json").read_text()) == meta
    assert meta["reason"] == "test"
    sums = (base / "SHA256SUMS").read_text().splitlines()
    assert [line.split("  ")[1] for line in sums] == [
        "metrics.txt", "model.json", "model.skops", "pr.png", "reference.json", "roc.png"]
    assert json.loads((base / "SIGNATURE").read_text()) == {
        "key": keys.key_id(KEY), "sha256sums_hmac": keys.mac(KEY, (base / "SHA256SUMS").read_bytes())}
    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256((base / name).read_bytes()).hexdigest() == digest
    assert registry.verify_version(tmp_path, NAME, "v0001") == []
    assert [p.name for p in (tmp_path / "models" / NAME).iterdir()] == ["v0001"]  # no staging leftovers


def test_versions_are_numbered_in_order(tmp_path: Path) -> None:
    assert registry.list_versions(tmp_path, NAME) == []
    assert registry.next_version(tmp_path, NAME) == "v0001"
    first, _ = register(tmp_path, skops_bytes("a"))
    second, _ = register(tmp_path, skops_bytes("b"))
    assert (first, second) == ("v0001", "v0002")
    # leftovers of an interrupted registration and stray names are not versions
    (tmp_path / "models" / NAME / (TMP_PREFIX + "v0003.abc")).mkdir()
    (tmp_path / "models" / NAME / "latest").mkdir()
    (tmp_path / "models" / NAME / "v0009.txt").write_text("x")
    assert registry.list_versions(tmp_path, NAME) == ["v0001", "v0002"]
    assert registry.next_version(tmp_path, NAME) == "v0003"
    _, loaded = load(tmp_path, "v0002")
    assert loaded.version == "v0002"


def test_list_versions_orders_numerically(tmp_path: Path) -> None:
    for i in range(11):
        register(tmp_path, skops_bytes(i))
    assert registry.list_versions(tmp_path, NAME) == [f"v{i:04d}" for i in range(1, 12)]
    model, loaded = load(tmp_path, "v0010")
    assert (model, loaded.version) == (9, "v0010")


def test_versions_are_never_overwritten(tmp_path: Path) -> None:
    register(tmp_path, skops_bytes("a"))
    original = (tmp_path / "models" / NAME / "v0001" / "model.skops").read_bytes()
    register(tmp_path, skops_bytes("b"))
    assert (tmp_path / "models" / NAME / "v0001" / "model.skops").read_bytes() == original


@pytest.mark.parametrize("bad", ["v9999", "v1", "0001", "../v0001", "v0001/..", "latest", ""])
def test_unknown_version_lists_the_valid_ones(tmp_path: Path, bad: str) -> None:
    register(tmp_path, skops_bytes("a"))
    register(tmp_path, skops_bytes("b"))
    with pytest.raises(UnknownVersionError) as excinfo:
        registry.check_version(tmp_path, NAME, bad)
    assert excinfo.value.exit_code == 2
    assert str(excinfo.value) == f"Model '{NAME}' has no version {bad!r}; versions: v0001, v0002."
    with pytest.raises(UnknownVersionError):
        load(tmp_path, bad)


def test_unknown_version_with_no_versions(tmp_path: Path) -> None:
    with pytest.raises(UnknownVersionError) as excinfo:
        registry.check_version(tmp_path, NAME, "v0001")
    assert str(excinfo.value) == f"Model '{NAME}' has no version 'v0001'; versions: none yet (run `lowops train`)."


def test_load_model_round_trip(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes({"coef": [0.5, -1.25]}))
    model, loaded = load(tmp_path, version)
    assert model == {"coef": [0.5, -1.25]}
    assert loaded.artifact is not None and loaded.artifact.file == "model.skops"


def test_a_fitted_pipeline_round_trips_as_a_skops_file(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = [["a"], ["b"], ["a"], ["c"]] * 10
    y = [1, 0, 1, 0] * 10
    fitted = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(sparse_output=False),
                           HistGradientBoostingClassifier(max_iter=3)).fit(x, y)
    data = registry.dump_model(fitted, ALLOWED, "lowops.yaml")
    # What the demo's pipeline needs beyond skops's own safe types, each allowed by name.
    assert sio.get_untrusted_types(data=data) == [
        "numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    version, _ = register(tmp_path, data)
    model, _ = load(tmp_path, version)
    assert model.predict_proba(x).tolist() == fitted.predict_proba(x).tolist()


def test_a_model_needing_types_outside_the_allow_list_is_not_registered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        registry.dump_model({"payload": BuildsSentinel(tmp_path / "BUILT")}, ALLOWED, "lowops.yaml")
    assert excinfo.value.exit_code == 78
    assert str(excinfo.value) == (
        f"lowops.yaml: the fitted model needs types outside 'model.allowed_modules' (sklearn): {PAYLOAD_TYPE}, "
        "so no load would trust it; list their packages under model.allowed_modules if you trust their code.")
    assert registry.list_versions(tmp_path, NAME) == []


def test_a_signed_skops_file_naming_a_type_outside_the_allow_list_builds_nothing(tmp_path: Path) -> None:
    # An insider who can write the registry and sign with its key: the file's own types still decide.
    sentinel = tmp_path / "BUILT"
    payload = skops_bytes({"coef": [0.5], "payload": BuildsSentinel(sentinel)})
    version, _ = register(tmp_path, payload)
    path = tmp_path / "models" / NAME / version / "model.skops"
    assert registry.verify_version(tmp_path, NAME, version) == []  # every digest and the signature hold
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert excinfo.value.exit_code == 77
    assert str(excinfo.value) == (
        f"Refusing to load {path}: it needs types outside model.allowed_modules (sklearn) and the ones lowops "
        f"trusts (numpy.dtype): {PAYLOAD_TYPE}. Nothing in it was built or run. If the version is yours and you "
        "trust that code, list its package under model.allowed_modules; otherwise the file was tampered with: "
        "roll back with `lowops rollback` or retrain, and run `lowops verify`.")
    assert not sentinel.exists()
    # Control: the file is a live payload, and the allow-list is what kept it from being built.
    model, _ = load(tmp_path, version, allowed=("sklearn", BuildsSentinel.__module__))
    assert sentinel.exists() and model["coef"] == [0.5]


def test_a_file_that_is_not_a_skops_file_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "UNPICKLED"
    version, _ = register(tmp_path, joblib_bytes(OpensSentinel(sentinel)))  # a pickle, signed, named model.skops
    path = tmp_path / "models" / NAME / version / "model.skops"
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (f"Refusing to load {path}: it is not a readable skops file (BadZipFile: File is "
                                  "not a zip file). Roll back with `lowops rollback` or retrain; run `lowops verify`.")
    assert not sentinel.exists()


def test_a_card_naming_another_model_file_is_refused(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    base = tmp_path / "models" / NAME / version
    meta = json.loads((base / "model.json").read_text())
    meta["artifact"]["file"] = "../../../elsewhere.pkl"
    (base / "model.json").write_text(json.dumps(meta))
    resign(base)
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (f"{base / 'model.json'} names '../../../elsewhere.pkl' as its model file, which is "
                                  "none of model.skops, model.joblib; run `lowops verify`.")


# =========================================================================== versions saved before skops


def pickled_version(repo: Path, obj: Any) -> tuple[str, Path, bytes]:
    """A version as lowops wrote them before skops (a signed ``model.joblib``): version, its file, its bytes."""
    version, _ = register(repo, skops_bytes("placeholder"))
    base = repo / "models" / NAME / version
    return version, base / "model.joblib", as_pickled_version(base, obj)


def test_a_signed_pickled_version_still_loads_and_verifies(tmp_path: Path) -> None:
    version, path, _ = pickled_version(tmp_path, {"coef": [0.5, -1.25]})
    model, loaded = load(tmp_path, version)
    assert model == {"coef": [0.5, -1.25]}
    assert loaded.artifact is not None and loaded.artifact.file == "model.joblib"
    assert registry.verify_version(tmp_path, NAME, version) == []
    assert not (path.parent / "model.skops").exists()


def test_with_load_pickles_false_not_even_a_signed_pickle_is_unpickled(tmp_path: Path) -> None:
    sentinel = tmp_path / "UNPICKLED"
    version, path, _ = pickled_version(tmp_path, OpensSentinel(sentinel))
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version, pickles=False)
    assert str(excinfo.value) == (
        f"Refusing to load {path}: it is a pickle (a version saved before model.skops), and integrity.load_pickles "
        "is false. Retrain or promote a skops version, or set integrity.load_pickles: true if you trust this "
        "version.")
    assert not sentinel.exists()
    load(tmp_path, version)  # control: the same version, pickles allowed, is unpickled
    assert sentinel.exists()


def test_a_pickle_is_unpickled_only_when_its_own_hmac_is_the_keys(tmp_path: Path) -> None:
    # SHA256SUMS signed (the version's files as recorded), but the HMAC model.json records for the
    # pickle is not the key's over these bytes: no pickle gets the benefit of the doubt.
    sentinel = tmp_path / "UNPICKLED"
    version, path, _ = pickled_version(tmp_path, OpensSentinel(sentinel))
    meta = json.loads((path.parent / "model.json").read_text())
    meta["artifact"]["hmac_sha256"] = keys.mac(b"not the key", path.read_bytes())
    (path.parent / "model.json").write_text(json.dumps(meta))
    resign(path.parent)
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (
        f"Refusing to unpickle {path}: the hmac_sha256 its model.json records is not the key's over the file, so "
        "someone without the key made it. Roll back with `lowops rollback` or retrain; do not use this version.")
    assert not sentinel.exists()


def test_tampered_model_is_refused_before_unpickling(tmp_path: Path) -> None:
    sentinel = tmp_path / "UNPICKLED"
    version, path, _ = pickled_version(tmp_path, (OpensSentinel(sentinel), "padding " * 64))
    meta = json.loads((path.parent / "model.json").read_text())
    # Flip a byte inside the padding string: the pickle stays valid and would still
    # run open(sentinel, 'w') if it were deserialised.
    offset = path.read_bytes().index(b"padding padding") + 3
    flip(path, offset)
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert excinfo.value.exit_code == 77
    message = str(excinfo.value)
    assert message.startswith(f"Refusing to load {path}: its sha256 ")
    assert f"differs from the {meta['artifact']['sha256'][:16]}… recorded at registration" in message
    assert not sentinel.exists()
    # Control: the altered bytes are a live payload, so the check above is what stopped it.
    joblib.load(path)
    assert sentinel.exists()


def test_untampered_payload_is_deserialised(tmp_path: Path) -> None:
    # The other half of the proof: the same kind of payload, intact and signed, does get unpickled.
    sentinel = tmp_path / "UNPICKLED"
    version, _, _ = pickled_version(tmp_path, (OpensSentinel(sentinel), "padding"))
    load(tmp_path, version)
    assert sentinel.exists()


@pytest.mark.parametrize("keep", [0, 10, -1])
def test_truncated_model_is_refused(tmp_path: Path, keep: int) -> None:
    sentinel = tmp_path / "UNPICKLED"
    version, path, data = pickled_version(tmp_path, (OpensSentinel(sentinel), "padding " * 64))
    path.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(IntegrityError, match=r"altered or truncated"):
        load(tmp_path, version)
    assert not sentinel.exists()


def test_missing_model_file(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    path = tmp_path / "models" / NAME / version / "model.skops"
    path.unlink()
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == f"{path} is missing; the version cannot be loaded."


def test_corrupt_model_json(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    meta_path = tmp_path / "models" / NAME / version / "model.json"
    meta_path.write_text("{not json")
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (f"Refusing to use {meta_path}: its sha256 differs from the signed SHA256SUMS, "
                                  "so the file was altered; run `lowops verify`.")
    # Signed as it is (only the key holder can): then it is read, and refused for what it says.
    resign(meta_path.parent)
    with pytest.raises(IntegrityError, match=r"model\.json is not valid JSON"):
        load(tmp_path, version)
    meta_path.write_text('{"version": "v0001"}')
    resign(meta_path.parent)
    with pytest.raises(IntegrityError, match=r"is not a valid model description"):
        registry.read_card(tmp_path, NAME, version)


def test_verify_version_finds_an_altered_plot(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    base = tmp_path / "models" / NAME / version
    assert registry.verify_version(tmp_path, NAME, version) == []
    (base / "roc.png").write_bytes(b"\x89PNG something else")
    assert registry.verify_version(tmp_path, NAME, version) == [
        f"{base / 'roc.png'}: sha256 does not match SHA256SUMS (altered)"]


def test_verify_version_finds_missing_and_unlisted_files(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    base = tmp_path / "models" / NAME / version
    (base / "pr.png").unlink()
    (base / "extra.txt").write_text("smuggled in")
    assert sorted(registry.verify_version(tmp_path, NAME, version)) == sorted([
        f"{base / 'pr.png'}: listed in SHA256SUMS but missing",
        f"{base / 'extra.txt'}: not listed in SHA256SUMS",
    ])
    (base / "SHA256SUMS").unlink()
    assert registry.verify_version(tmp_path, NAME, version) == [
        f"{base / 'SHA256SUMS'}: missing (the version was never completed)"]


def forge(base: Path, filename: str, model_bytes: bytes) -> None:
    """What an attacker without the key does: a new model file, its name and digest in model.json, SHA256SUMS
    recomputed."""
    for old in ("model.skops", "model.joblib"):
        (base / old).unlink(missing_ok=True)
    (base / filename).write_bytes(model_bytes)
    meta = json.loads((base / "model.json").read_text())
    meta["artifact"]["file"] = filename
    meta["artifact"]["sha256"] = hashlib.sha256(model_bytes).hexdigest()
    meta["artifact"]["bytes"] = len(model_bytes)
    (base / "model.json").write_text(json.dumps(meta))
    names = sorted(p.name for p in base.iterdir() if p.name not in ("SHA256SUMS", "SIGNATURE"))
    (base / "SHA256SUMS").write_text(
        "".join(f"{hashlib.sha256((base / n).read_bytes()).hexdigest()}  {n}\n" for n in names))


@pytest.mark.parametrize("filename", ["model.skops", "model.joblib"])
def test_a_forged_version_with_recomputed_digests_is_never_deserialised(tmp_path: Path, filename: str) -> None:
    # A skops payload, or a pickle passed off as a version saved before skops.
    version, _ = register(tmp_path, skops_bytes("honest"))
    base = tmp_path / "models" / NAME / version
    sentinel = tmp_path / "PAYLOAD"
    forge(base, filename, skops_bytes(BuildsSentinel(sentinel)) if filename == "model.skops"
          else joblib_bytes(OpensSentinel(sentinel)))
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert excinfo.value.exit_code == 77
    assert str(excinfo.value) == (
        f"Refusing to use {NAME} {version}: {base / 'SIGNATURE'} is not a signature of SHA256SUMS: the digests "
        "were changed by someone without the key. Roll back with `lowops rollback` or retrain; do not use "
        "this version.")
    assert registry.verify_version(tmp_path, NAME, version) == [
        f"{base / 'SIGNATURE'}: not a signature of SHA256SUMS: the digests were changed by someone without the key"]
    assert not sentinel.exists()


def test_a_version_without_its_signature_or_with_another_key_is_refused(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    base = tmp_path / "models" / NAME / version
    signature = json.loads((base / "SIGNATURE").read_text())
    (base / "SIGNATURE").unlink()
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (
        f"Refusing to use {NAME} {version}: {base / 'SIGNATURE'} is missing, so nothing vouches for the version's "
        "files. Roll back with `lowops rollback` or retrain; do not use this version.")
    other = b"someone else's key"
    sums = (base / "SHA256SUMS").read_bytes()
    (base / "SIGNATURE").write_text(json.dumps({"key": keys.key_id(other), "sha256sums_hmac": keys.mac(other, sums)}))
    with pytest.raises(IntegrityError, match=rf"signed with key {keys.key_id(other)}, which is not the repository's"):
        load(tmp_path, version)
    (base / "SIGNATURE").write_text(json.dumps(signature))
    assert load(tmp_path, version)[0] == "a"


def test_after_a_rotation_the_previous_key_still_verifies(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("old"))
    new = b"the rotated key, 32 bytes long..."
    keys.use(tmp_path, lambda: keys.Keys(new, {keys.key_id(new): new, keys.key_id(KEY): KEY}, "rotated"))
    assert load(tmp_path, version)[0] == "old"
    second, _ = register(tmp_path, skops_bytes("new"))
    assert json.loads((tmp_path / "models" / NAME / second / "SIGNATURE").read_text())["key"] == keys.key_id(new)
    keys.use(tmp_path, lambda: keys.Keys(new, {keys.key_id(new): new}, "rotated, old key dropped"))
    assert load(tmp_path, second)[0] == "new"
    with pytest.raises(IntegrityError, match=rf"signed with key {keys.key_id(KEY)}, which is not the repository's"):
        load(tmp_path, version)


def test_no_key_signs_nothing_and_trusts_nothing(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    keys.use(tmp_path, lambda: keys.Keys(None, {}, "/nowhere/churn.key does not exist"))
    with pytest.raises(IntegrityError, match=r"unverifiable: there is no integrity key to check it with "
                                             r"\(/nowhere/churn\.key does not exist\)"):
        load(tmp_path, version)
    with pytest.raises(IntegrityError) as excinfo:
        register(tmp_path, skops_bytes("b"))
    assert str(excinfo.value) == ("There is no integrity key (/nowhere/churn.key does not exist), so lowops cannot "
                                  "sign what it writes; restore the key, or create a project with `lowops init`.")
    assert registry.list_versions(tmp_path, NAME) == [version]


def test_a_signed_version_that_lacks_its_reference_is_never_used(tmp_path: Path) -> None:
    version, _ = register(tmp_path, skops_bytes("a"))
    base = tmp_path / "models" / NAME / version
    (base / "reference.json").unlink()
    resign(base)
    with pytest.raises(IntegrityError) as excinfo:
        load(tmp_path, version)
    assert str(excinfo.value) == (f"Refusing to use {NAME} {version}: its signed SHA256SUMS does not list "
                                  "reference.json; retrain it.")
