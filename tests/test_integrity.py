"""Tampered models (RELIABILITY.md (b) and (c) 1, 2, 6): refused before deserialising, exit 77.

A digest beside a model catches accidents; the signature of SHA256SUMS by the
project's key, which lives outside the repository, catches someone who can write
the registry; the owner and mode of every directory on the way catch someone who
can replace it. Symbolic links planted to lead out of the repository are never followed.
A skops model file is rebuilt only from the types model.allowed_modules allows, so
not even someone who holds the key can make a load run code of theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import re
import shutil
import stat
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import joblib
import pytest
import skops.io as sio
from conftest import KEYS_HOME, PATIENCE, copy_project, invoke, set_config
from reliability_support import assert_unchanged, fast_ran, snapshot

from lowops.io import version_status as vstatus


class Payload:
    """A pickle that creates a file when it is deserialised."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.sentinel}",))


def versions_dir(project: Path) -> Path:
    return project / "repo" / "models" / "churn"


def rewrite(project: Path, version: str, *, model: bytes | None = None, meta_change: object = None,
            key: bytes | None = None, filename: str = "model.skops") -> None:
    """Change a version's files the way someone with write access can: digests made to match, and with
    ``key`` (an insider who holds it) the model's HMAC and the SIGNATURE of SHA256SUMS made anew."""
    folder = versions_dir(project) / version
    if model is not None:
        for old in ("model.skops", "model.joblib"):
            (folder / old).unlink(missing_ok=True)
        (folder / filename).write_bytes(model)
    meta = json.loads((folder / "model.json").read_text())
    data = (folder / meta["artifact"]["file"] if model is None else folder / filename).read_bytes()
    meta["artifact"].update(file=filename if model is not None else meta["artifact"]["file"],
                            sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if key is not None:
        meta["artifact"]["hmac_sha256"] = hmac.new(key, data, "sha256").hexdigest()
    if meta_change is not None:
        meta_change(meta)  # type: ignore[operator]
    (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(folder.iterdir())
                   if p.name not in ("SHA256SUMS", "SIGNATURE")).encode()
    (folder / "SHA256SUMS").write_bytes(sums)
    if key is not None:
        (folder / "SIGNATURE").write_text(json.dumps({"key": hashlib.sha256(key).hexdigest()[:16],
                                                      "sha256sums_hmac": hmac.new(key, sums, "sha256").hexdigest()}))


def _without_ids(state: Any) -> Any:
    """A skops state with its memo ids dropped (ids of another dump could collide with the target's)."""
    if isinstance(state, dict):
        return {k: _without_ids(v) for k, v in state.items() if k != "__id__"}
    if isinstance(state, list):
        return [_without_ids(v) for v in state]
    return state


def crafted_skops(model_file: Path, sentinel: Path) -> bytes:
    """The version's own skops file with one more attribute on its pipeline, whose node has skops call
    ``os.system("touch SENTINEL")`` while it rebuilds the model: a model that still predicts, and runs a
    command as whoever loads it, if its types were trusted."""
    with zipfile.ZipFile(BytesIO(model_file.read_bytes())) as original:
        members = {name: original.read(name) for name in original.namelist()}
    schema = json.loads(members["schema.json"])
    with zipfile.ZipFile(BytesIO(sio.dumps((f"touch {sentinel}",)))) as args:
        arguments = _without_ids(json.loads(args.read("schema.json")))
    for key in ("protocol", "_skops_version"):
        arguments.pop(key)
    attributes = schema["content"]  # the pipeline's __dict__: its values, and the type of each key in turn
    attributes["content"]["notes"] = {"__class__": "system", "__module__": "os",
                                      "__loader__": "ConstructorFromReduceNode", "content": arguments}
    attributes["key_types"]["content"].append(_without_ids(attributes["key_types"]["content"][0]))
    members["schema.json"] = json.dumps(schema).encode()
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as crafted:
        for name, data in members.items():
            crafted.writestr(name, data)
    return buffer.getvalue()


def refused_types(model_file: Path) -> str:
    """The refusal of a crafted skops file that needs os.system, as lowops words it."""
    return (f"Refusing to load {model_file}: it needs types outside model.allowed_modules (sklearn) and the ones "
            "lowops trusts (numpy.dtype): os.system. Nothing in it was built or run.")


def set_integrity(project: Path, **keys: str | None) -> None:
    """Set the integrity section to exactly ``keys`` (the others null)."""
    set_config(project, {"integrity": {"hmac_key_file": None, "hmac_key_env": None, **keys}})


@pytest.fixture
def ran(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "model.key"
    path.parent.mkdir()
    path.write_bytes(os.urandom(32).hex().encode())
    path.chmod(0o600)
    return path


@pytest.fixture
def signed(ran: Path, key_file: Path) -> Path:
    """The fast project with another key configured and v0002, signed with it, live.

    v0001 was signed with the project's default key, which this configuration does not accept."""
    set_integrity(ran, hmac_key_file=str(key_file))
    trained = invoke(ran, "train", "--window", "2025-03")
    assert trained.exit_code == 0, trained.output
    promoted = invoke(ran, "promote", "v0002", "--force", "--reason", "signed")
    assert promoted.exit_code == 0, promoted.output
    return ran


# =========================================================================== without a key: digests


def test_a_malicious_pickle_is_refused_before_it_is_deserialised(ran: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    (versions_dir(ran) / "v0001" / "model.skops").write_bytes(pickle.dumps(Payload(sentinel)))
    pointer = (ran / "repo" / "deploy" / "churn.json").read_bytes()
    for args in (["score", "--window", "2025-03"], ["run", "--window", "2025-04"], ["smoke"]):
        result = invoke(ran, *args)
        assert result.exit_code == 77, result.output
        assert "altered" in result.stderr
    assert not sentinel.exists()
    assert (ran / "repo" / "deploy" / "churn.json").read_bytes() == pointer


def test_swapped_versions_are_refused(ran: Path) -> None:
    assert invoke(ran, "train", "--window", "2025-03").exit_code == 0
    base = versions_dir(ran)
    (base / "v0001").rename(base / "swap")
    (base / "v0002").rename(base / "v0001")
    (base / "swap").rename(base / "v0002")
    before = snapshot(ran / "repo")
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77, result.output
    assert result.stderr.startswith(f"Error: Refusing to load {base / 'v0001' / 'model.skops'}: its model.json "
                                    "describes churn v0002, not churn v0001, so versions were swapped")
    assert_unchanged(ran / "repo", before, failed_runs=1, message="swapped")
    found = invoke(ran, "verify")
    assert found.exit_code == 77
    assert f"{base / 'v0001'}: model.json describes v0002, not v0001 (versions swapped or copied by hand)" \
        in found.stdout


# =========================================================================== the key: every project has one


def default_key() -> Path:
    """The demo project's key, where ``lowops init`` made it (the suite's XDG_CONFIG_HOME)."""
    return KEYS_HOME / "lowops" / "keys" / "churn-demo.key"


def test_versions_are_signed_with_the_key_init_made_outside_the_repository(ran: Path) -> None:
    key = default_key()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    secret = key.read_bytes().strip()
    base = versions_dir(ran) / "v0001"
    sums = (base / "SHA256SUMS").read_bytes()
    assert {line.split("  ")[1] for line in sums.decode().splitlines()} >= {
        "model.skops", "model.json", "reference.json"}
    assert json.loads((base / "SIGNATURE").read_text()) == {
        "key": hashlib.sha256(secret).hexdigest()[:16],
        "sha256sums_hmac": hmac.new(secret, sums, "sha256").hexdigest()}
    meta = json.loads((base / "model.json").read_text())
    assert meta["artifact"]["hmac_sha256"] == hmac.new(secret, (base / "model.skops").read_bytes(),
                                                       "sha256").hexdigest()


# Every command that loads a model, and what it loads: the live version or the idle v0002.
LOADERS = [
    ("score", "--window", "2025-03"),
    ("run", "--window", "2025-04"),
    ("drift", "--window", "2025-03"),
    ("smoke",),
    ("smoke", "v0002"),
    ("approve", "v0002", "--by", "alice", "--reason", "x"),  # before promote, whose refusal rejects v0002
    ("promote", "v0002", "--reason", "x"),
    ("promote", "v0002", "--force", "--reason", "no --force switches in an untrusted version"),
    ("retrain", "--window", "2025-03"),
]


@pytest.fixture
def with_idle(ran: Path) -> Path:
    """The fast project with v0002 trained beside the live v0001 and pending approval."""
    trained = invoke(ran, "train", "--window", "2025-03")
    assert trained.exit_code == 0, trained.output
    vstatus.record(ran / "repo", "churn", "v0002", "pending", by="lowops", reason="approval required")
    return ran


@pytest.mark.parametrize("format", ["skops", "pickle"])
def test_a_crafted_model_with_recomputed_digests_runs_in_no_command(with_idle: Path, tmp_path: Path,
                                                                    format: str) -> None:
    # (a) Someone who can write the registry but cannot read the key: a payload in place of each
    # model (a crafted skops file, or a pickle passed off as a version saved before skops), its
    # digests recomputed in model.json and SHA256SUMS.
    sentinel = tmp_path / "PWNED"
    for version in ("v0001", "v0002"):
        model_file = versions_dir(with_idle) / version / "model.skops"
        if format == "skops":
            rewrite(with_idle, version, model=crafted_skops(model_file, sentinel))
        else:
            rewrite(with_idle, version, model=pickle.dumps(Payload(sentinel)), filename="model.joblib")
    pointer = (with_idle / "repo" / "deploy" / "churn.json").read_bytes()
    for args in LOADERS:
        result = invoke(with_idle, *args)
        assert result.exit_code == 77, (args, result.output)
        version = "v0002" if "v0002" in args else "v0001"
        # The smoke test (alone or before a switch) reports it as its failed digest check; the others
        # as the refusal itself.
        assert (f"{versions_dir(with_idle) / version / 'SIGNATURE'}: not a signature of SHA256SUMS: the digests "
                "were changed by someone without the key" in result.stderr
                if args[0] in ("smoke", "promote", "approve") else
                f"Error: Refusing to use churn {version}: {versions_dir(with_idle) / version / 'SIGNATURE'} is "
                "not a signature of SHA256SUMS: the digests were changed by someone without the key."
                in result.stderr), (args, result.stderr)
        assert not sentinel.exists(), args
    assert (with_idle / "repo" / "deploy" / "churn.json").read_bytes() == pointer
    found = invoke(with_idle, "verify")
    assert found.exit_code == 77
    for version in ("v0001", "v0002"):
        assert (f"{versions_dir(with_idle) / version / 'SIGNATURE'}: not a signature of SHA256SUMS"
                in found.stdout)
    assert not sentinel.exists()


def installed(lowops_bin: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lowops -C PROJECT ARGS...`` through the installed script, as cron runs it."""
    return subprocess.run([str(lowops_bin), "-C", str(project), *args], capture_output=True, text=True, check=False)


def as_installed(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same command in-process, its result in :func:`installed`'s form."""
    result = invoke(project, *args)
    return subprocess.CompletedProcess(["lowops", "-C", str(project), *args], result.exit_code, result.stdout,
                                       result.stderr)


def test_a_crafted_skops_file_signed_with_the_key_runs_in_no_command(with_idle: Path, tmp_path: Path,
                                                                      lowops_bin: Path) -> None:
    # (b) An insider who can write the registry and holds the key: every digest recomputed, the
    # model's HMAC and the SIGNATURE made anew with the repository's key. Only the file's own types
    # are left to refuse it.
    sentinel = tmp_path / "PWNED"
    secret = default_key().read_bytes().strip()
    live = versions_dir(with_idle) / "v0001" / "model.skops"
    # Control: such a file is a live payload that still rebuilds the model, if its types are trusted.
    control = tmp_path / "CONTROL"
    payload = crafted_skops(live, control)
    model = sio.loads(payload, trusted=sio.get_untrusted_types(data=payload))
    assert control.exists() and hasattr(model, "predict_proba")
    for version in ("v0001", "v0002"):
        model_file = versions_dir(with_idle) / version / "model.skops"
        rewrite(with_idle, version, model=crafted_skops(model_file, sentinel), key=secret)
    pointer = (with_idle / "repo" / "deploy" / "churn.json").read_bytes()
    scored = installed(lowops_bin, with_idle, "score", "--window", "2025-03")
    assert scored.returncode == 77, scored.stderr
    assert scored.stderr.startswith(f"Error: {refused_types(live)}"), scored.stderr
    for args in LOADERS:
        result = invoke(with_idle, *args)
        assert result.exit_code == 77, (args, result.output)
        version = "v0002" if "v0002" in args else "v0001"
        assert refused_types(versions_dir(with_idle) / version / "model.skops") in result.stderr, (args, result.stderr)
        assert not sentinel.exists(), args
    assert (with_idle / "repo" / "deploy" / "churn.json").read_bytes() == pointer
    found = installed(lowops_bin, with_idle, "verify")
    assert found.returncode == 77
    for version in ("v0001", "v0002"):
        assert (f"{versions_dir(with_idle) / version / 'model.skops'}: needs types outside model.allowed_modules "
                "(sklearn): os.system; lowops refuses to load it") in found.stdout
    assert not sentinel.exists()


def test_a_crafted_skops_file_in_a_repository_without_its_key_runs_nothing(ran: Path, tmp_path: Path,
                                                                            lowops_bin: Path) -> None:
    # The key gone (or never there): nothing verifies, so no model file is read as a model at all.
    sentinel = tmp_path / "PWNED"
    model_file = versions_dir(ran) / "v0001" / "model.skops"
    rewrite(ran, "v0001", model=crafted_skops(model_file, sentinel))
    key = default_key()
    moved = tmp_path / "kept.key"
    shutil.copy2(key, moved)
    key.unlink()
    try:
        # the installed script for the first command (a process of its own, as cron starts), in-process after
        for args in (["score", "--window", "2025-03"], ["smoke"], ["run", "--window", "2025-04"]):
            result = installed(lowops_bin, ran, *args) if args[0] == "score" else as_installed(ran, *args)
            assert result.returncode == 77, (args, result.stderr)
            # (the smoke test reports it as its failed digest check, ``SIGNATURE: unverifiable: …``)
            assert re.search(rf"{re.escape(str(versions_dir(ran) / 'v0001' / 'SIGNATURE'))}:? (is )?unverifiable: "
                             rf"there is no integrity key to check it with \({re.escape(str(key))} does not exist\)",
                             result.stderr), (args, result.stderr)
            assert not sentinel.exists(), args
        assert not key.exists()
    finally:
        shutil.copy2(moved, key)
    # With the key back: digests recomputed by someone without it are refused, still before anything is built.
    result = as_installed(ran, "score", "--window", "2025-03")
    assert result.returncode == 77
    assert "is not a signature of SHA256SUMS" in result.stderr
    assert not sentinel.exists()


def test_a_version_saved_as_a_pickle_before_skops_still_loads_and_verifies(ran: Path, lowops_bin: Path) -> None:
    # v0001 as lowops wrote versions before skops: the same fitted pipeline in model.joblib, its digest
    # and HMAC in model.json, SHA256SUMS signed with the key.
    folder = versions_dir(ran) / "v0001"
    model = sio.loads((folder / "model.skops").read_bytes(),
                      trusted=sio.get_untrusted_types(data=(folder / "model.skops").read_bytes()))
    buffer = BytesIO()
    joblib.dump(model, buffer)
    rewrite(ran, "v0001", model=buffer.getvalue(), filename="model.joblib", key=default_key().read_bytes().strip())
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("model.")) == ["model.joblib", "model.json"]
    found = as_installed(ran, "verify")
    assert found.returncode == 0, found.stdout
    # the installed script: a process that has imported nothing yet unpickles it
    scored = installed(lowops_bin, ran, "score", "--window", "2025-03")
    assert scored.returncode == 0, scored.stderr
    smoke = as_installed(ran, "smoke")
    assert smoke.returncode == 0, smoke.stdout
    # New versions beside it are skops files.
    assert as_installed(ran, "train", "--window", "2025-03").returncode == 0
    assert (versions_dir(ran) / "v0002" / "model.skops").is_file()
    assert not (versions_dir(ran) / "v0002" / "model.joblib").exists()


def test_with_load_pickles_false_a_pickle_signed_with_the_key_runs_in_no_command(ran: Path, tmp_path: Path,
                                                                                  lowops_bin: Path) -> None:
    # An insider who holds the key passes a pickle off as a version saved before skops: the key vouches
    # for it, so only integrity.load_pickles: false (the config lies outside repo/) keeps it unpickled.
    sentinel = tmp_path / "PWNED"
    set_config(ran, {"integrity": {"load_pickles": False}})
    rewrite(ran, "v0001", model=pickle.dumps(Payload(sentinel)), filename="model.joblib",
            key=default_key().read_bytes().strip())
    model_file = versions_dir(ran) / "v0001" / "model.joblib"
    for args in (["score", "--window", "2025-03"], ["run", "--window", "2025-04"]):
        result = installed(lowops_bin, ran, *args) if args[0] == "score" else as_installed(ran, *args)
        assert result.returncode == 77, (args, result.stderr)
        assert result.stderr.startswith(
            f"Error: Refusing to load {model_file}: it is a pickle (a version saved before model.skops), and "
            "integrity.load_pickles is false."), (args, result.stderr)
        assert not sentinel.exists(), args


def test_an_edited_model_json_or_reference_with_recomputed_sums_is_refused(ran: Path) -> None:
    for target, change in (("model.json", lambda text: text.replace('"reason": "', '"reason": "edited ', 1)),
                           ("reference.json", lambda text: text.replace("0", "1", 1))):
        folder = versions_dir(ran) / "v0001"
        original = {p.name: p.read_bytes() for p in folder.iterdir()}
        (folder / target).write_text(change((folder / target).read_text()))
        (folder / "SHA256SUMS").write_text("".join(
            f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
            for p in sorted(folder.iterdir()) if p.name not in ("SHA256SUMS", "SIGNATURE")))
        result = invoke(ran, "score", "--window", "2025-03")
        assert result.exit_code == 77, (target, result.output)
        assert "is not a signature of SHA256SUMS" in result.stderr
        for name, data in original.items():
            (folder / name).write_bytes(data)
    # Only the file: SHA256SUMS intact, so the file's own digest is what refuses it (drift reads it).
    set_config(ran, {"drift": {"enabled": True}})
    (folder / "reference.json").write_text((folder / "reference.json").read_text().replace("0", "1", 1))
    result = invoke(ran, "drift", "--window", "2025-03")
    assert result.exit_code == 77
    assert result.stderr == (f"Error: Refusing to use {folder / 'reference.json'}: its sha256 differs from the signed "
                             "SHA256SUMS, so the file was altered; run `lowops verify`.\n")


@pytest.mark.parametrize("missing", ["SHA256SUMS", "SIGNATURE"])
def test_a_version_without_its_signed_digests_is_never_used(ran: Path, missing: str) -> None:
    path = versions_dir(ran) / "v0001" / missing
    path.unlink()
    before = snapshot(ran / "repo")
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77
    assert result.stderr.startswith(f"Error: Refusing to use churn v0001: {path} is missing, so nothing vouches "
                                    "for the version's files.")
    assert_unchanged(ran / "repo", before, failed_runs=1, message="nothing vouches")


def test_a_lost_key_trusts_nothing_and_signs_nothing(ran: Path, tmp_path: Path) -> None:
    key = default_key()
    moved = tmp_path / "kept.key"
    shutil.copy2(key, moved)
    key.unlink()
    try:
        before = snapshot(ran / "repo")
        result = invoke(ran, "score", "--window", "2025-03")
        assert result.exit_code == 77
        assert result.stderr.startswith(f"Error: Refusing to use churn v0001: {versions_dir(ran) / 'v0001' / 'SIGNATURE'}"
                                        f" is unverifiable: there is no integrity key to check it with ({key} does "
                                        "not exist).")
        assert_unchanged(ran / "repo", before, failed_runs=1, message="no integrity key")
        assert not key.exists()  # a repository with versions never gets a new key by itself
    finally:
        shutil.copy2(moved, key)
    assert invoke(ran, "score", "--window", "2025-03").exit_code == 0


def test_a_version_signed_with_another_key_is_refused_until_that_key_is_a_previous_one(ran: Path,
                                                                                        key_file: Path) -> None:
    set_integrity(ran, hmac_key_file=str(key_file))
    signature = versions_dir(ran) / "v0001" / "SIGNATURE"
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77
    signer = json.loads(signature.read_text())["key"]
    assert result.stderr == (f"Error: Refusing to use churn v0001: {signature} is signed with key {signer}, which is "
                             "not the repository's (see integrity in the config). Roll back with `lowops rollback` "
                             "or retrain; do not use this version.\n")
    # A rotation: the new key signs, the old one (now a previous key) still verifies what it signed.
    set_config(ran, {"integrity": {"previous_key_files": [str(default_key())]}})
    assert invoke(ran, "score", "--window", "2025-03").exit_code == 0
    assert invoke(ran, "train", "--window", "2025-03").exit_code == 0
    new = json.loads((versions_dir(ran) / "v0002" / "SIGNATURE").read_text())["key"]
    assert new == hashlib.sha256(key_file.read_bytes().strip()).hexdigest()[:16] != signer
    assert invoke(ran, "verify").exit_code == 0


def test_the_key_must_be_private_outside_the_repository_and_present(signed: Path, key_file: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    key_file.chmod(0o640)
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 77
    assert result.stderr == (f"Error: The HMAC key {key_file} has mode 0640; it must be readable by its owner only: "
                             f"chmod 600 {key_file}.\n")
    key_file.chmod(0o600)
    inside = signed / "repo" / "model.key"
    shutil.copy(key_file, inside)
    set_integrity(signed, hmac_key_file=str(inside))
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 77
    assert "lies inside the repository" in result.stderr
    inside.unlink()
    set_integrity(signed, hmac_key_file=str(key_file) + ".missing")
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 78
    assert result.stderr.startswith(f"Error: integrity.hmac_key_file {key_file}.missing does not exist")
    # The key from the environment instead: same key, never printed.
    set_integrity(signed, hmac_key_env="LOWOPS_TEST_MODEL_KEY")
    monkeypatch.delenv("LOWOPS_TEST_MODEL_KEY", raising=False)
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 78 and "LOWOPS_TEST_MODEL_KEY, which is not set" in result.stderr
    secret = key_file.read_bytes().strip().decode()
    monkeypatch.setenv("LOWOPS_TEST_MODEL_KEY", secret)
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 0, result.output
    rewrite(signed, "v0002", meta_change=lambda meta: meta["artifact"].update(hmac_sha256="0" * 64))
    result = invoke(signed, "--debug", "score", "--window", "2025-03")
    assert result.exit_code != 0
    for text in (result.output, result.stderr, repr(result.exception)):
        assert secret not in text


# =========================================================================== symbolic links


def test_a_planted_symlink_out_of_the_repository_is_refused_and_flagged(ran: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(versions_dir(ran) / "v0001", elsewhere)
    rewrite_target = elsewhere / "model.json"
    meta = json.loads(rewrite_target.read_text())
    meta["version"] = "v0002"
    rewrite_target.write_text(json.dumps(meta))
    (versions_dir(ran) / "v0002").symlink_to(elsewhere, target_is_directory=True)
    link_error = f"{versions_dir(ran) / 'v0002'} leads outside the repository (to {elsewhere})"
    before = snapshot(ran / "repo")
    for args in (["models", "show", "v0002"], ["promote", "v0002"], ["smoke", "v0002"]):
        result = invoke(ran, *args)
        assert result.exit_code == 77, (args, result.output)
        assert result.stderr.startswith(f"Error: {link_error}; refusing to use it."), result.stderr
    assert_unchanged(ran / "repo", before)
    pointer = ran / "repo" / "deploy" / "churn.json"
    pointer.write_text(pointer.read_text().replace('"v0001"', '"v0002"'))
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77 and link_error in result.stderr
    for args in (["verify"], ["verify", "--repair"]):
        found = invoke(ran, *args)
        assert found.exit_code == 77
        assert (f"{versions_dir(ran) / 'v0002'}: symbolic link leading outside the repository (to {elsewhere}); "
                "lowops refuses to load it: remove it") in found.stdout
    assert (versions_dir(ran) / "v0002").is_symlink()  # --repair never removes what it did not write


def test_a_symlinked_model_file_is_refused(ran: Path, tmp_path: Path) -> None:
    model = versions_dir(ran) / "v0001" / "model.skops"
    outside = tmp_path / "model.skops"
    shutil.copy(model, outside)
    model.unlink()
    model.symlink_to(outside)
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77
    assert f"{model} leads outside the repository (to {outside})" in result.stderr


# =========================================================================== permissions


@pytest.mark.parametrize("where", ["models/churn/v0001", "models/churn/v0001/model.skops", "models"])
def test_a_model_others_may_write_is_refused(ran: Path, where: str) -> None:
    path = ran / "repo" / where
    path.chmod(path.stat().st_mode | 0o020)  # group-writable
    before = snapshot(ran / "repo")
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77, result.output
    assert result.stderr == (f"Error: Refusing to load churn v0001: {path} is writable by its group or others "
                             f"(mode {path.stat().st_mode & 0o7777:04o}), so someone other than its owner could have "
                             f"replaced the model; make it writable by its owner only: chmod go-w {path}\n")
    assert_unchanged(ran / "repo", before, failed_runs=1, message="writable by its group or others")
    path.chmod(path.stat().st_mode & ~0o022)
    assert invoke(ran, "score", "--window", "2025-03").exit_code == 0


def test_the_registry_is_owner_writable_whatever_the_login_umask(lowops_bin: Path, tmp_path_factory: pytest.TempPathFactory,
                                                                 tmp_path: Path) -> None:
    import subprocess

    from reliability_support import fast_template

    project = copy_project(fast_template(tmp_path_factory), tmp_path / "churn")
    # umask 002 (the default for logins with a private group on many systems) would make new
    # directories group-writable, and the models in them refused.
    done = subprocess.run(["bash", "-c", f"umask 002 && '{lowops_bin}' -C '{project}' run --window 2025-01"],
                          capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    repo = project / "repo"
    shared = [p for p in [repo, *repo.rglob("*")] if not p.is_symlink() and p.stat().st_mode & 0o022]
    assert shared == []
    assert (repo / "models" / "churn" / "v0001").stat().st_mode & 0o777 == 0o750
    assert (repo / "models" / "churn" / "v0001" / "model.skops").stat().st_mode & 0o777 == 0o640


OTHER_UID = 4242  # a colleague in the repository's group


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another uid needs root (CI runs as root)")
@pytest.mark.parametrize("args", LOADERS, ids=lambda args: " ".join(args))
def test_a_registry_swapped_by_a_group_member_runs_in_no_command(with_idle: Path, tmp_path: Path,
                                                                 args: tuple[str, ...]) -> None:
    # (b) The repository shared setgid 2770 with a group: a member moves models/ aside and puts
    # her own in its place (0755/0644, hers), whose models are payloads.
    repo = with_idle / "repo"
    sentinel = tmp_path / "PWNED"
    models = repo / "models"
    models.rename(repo / "models.moved")
    shutil.copytree(repo / "models.moved", models)
    for version in ("v0001", "v0002"):
        rewrite(with_idle, version, model=pickle.dumps(Payload(sentinel)))
    for path in [models, *models.rglob("*")]:
        os.chown(path, OTHER_UID, 0)
        path.chmod(0o755 if path.is_dir() else 0o644)
    repo.chmod(0o2770)
    result = invoke(with_idle, *args)
    assert result.exit_code == 77, result.output
    # (retrain refuses the version it has just trained, or the live one it compares with: either way, before use)
    assert re.search(rf"Refusing to load churn v\d{{4}}: {re.escape(str(repo))} is writable by its group or "
                     r"others \(mode 2770\)", result.stderr), result.stderr
    assert not sentinel.exists()
    # The repository closed again (2750), her models/ is still hers: refused for its owner.
    repo.chmod(0o2750)
    if args[0] == "approve":  # the refused approval rejected v0002: make it pending again
        vstatus.record(repo, "churn", "v0002", "pending", by="lowops", reason="approval required")
    result = invoke(with_idle, *args)
    assert result.exit_code == 77, result.output
    assert re.search(rf"Refusing to load churn v\d{{4}}: {re.escape(str(models))} is owned by uid {OTHER_UID}, not "
                     rf"by the user running lowops \(uid {os.geteuid()}\)", result.stderr), result.stderr
    assert not sentinel.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another uid needs root (CI runs as root)")
def test_verify_reports_a_repository_path_others_could_replace(ran: Path) -> None:
    repo = ran / "repo"
    repo.chmod(0o2770)
    os.chown(repo / "models" / "churn", OTHER_UID, -1)
    result = invoke(ran, "verify")
    assert result.exit_code == 77, result.output
    assert f"{repo}: writable by its group or others (mode 2770)" in result.stdout
    assert f"{repo / 'models' / 'churn'}: owned by uid {OTHER_UID}" in result.stdout
    repo.chmod(0o750)
    os.chown(repo / "models" / "churn", os.geteuid(), -1)
    assert invoke(ran, "verify").exit_code == 0


def test_verify_reports_a_registry_others_may_write(ran: Path) -> None:
    path = ran / "repo" / "models" / "churn" / "v0001"
    path.chmod(0o770)
    result = invoke(ran, "verify")
    assert result.exit_code == 77, result.output
    assert result.stdout == (f"{path}: writable by its group or others (mode 0770); lowops refuses to load models "
                             f"there: chmod go-w {path}\n")
    path.chmod(0o750)
    assert invoke(ran, "verify").exit_code == 0
