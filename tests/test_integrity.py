"""Tampered models (RELIABILITY.md (b) and (c) 1, 2, 6): refused before deserialising, exit 77.

A digest beside a model catches accidents; an HMAC whose key lives outside the
repository catches someone who can write the registry. Symbolic links planted to
lead out of the repository are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from conftest import copy_project, invoke, set_config
from reliability_support import assert_unchanged, fast_ran, snapshot


class Payload:
    """A pickle that creates a file when it is deserialised."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.sentinel}",))


def versions_dir(project: Path) -> Path:
    return project / "repo" / "models" / "churn"


def rewrite(project: Path, version: str, *, model: bytes | None = None, meta_change: object = None) -> None:
    """Change a version's files the way someone with write access but no key can: digests made to match."""
    folder = versions_dir(project) / version
    if model is not None:
        (folder / "model.joblib").write_bytes(model)
    meta = json.loads((folder / "model.json").read_text())
    meta["artifact"]["sha256"] = hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()
    meta["artifact"]["bytes"] = (folder / "model.joblib").stat().st_size
    if meta_change is not None:
        meta_change(meta)  # type: ignore[operator]
    (folder / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    (folder / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                                               for p in sorted(folder.iterdir()) if p.name != "SHA256SUMS"))


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
    """The fast project with a key configured and a signed v0002 live (v0001 predates the key)."""
    set_integrity(ran, hmac_key_file=str(key_file))
    trained = invoke(ran, "train", "--window", "2025-03")
    assert trained.exit_code == 0, trained.output
    promoted = invoke(ran, "promote", "v0002", "--force", "--reason", "signed")
    assert promoted.exit_code == 0, promoted.output
    return ran


# =========================================================================== without a key: digests


def test_a_malicious_pickle_is_refused_before_it_is_deserialised(ran: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    (versions_dir(ran) / "v0001" / "model.joblib").write_bytes(pickle.dumps(Payload(sentinel)))
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
    assert result.stderr.startswith(f"Error: Refusing to load {base / 'v0001' / 'model.joblib'}: its model.json "
                                    "describes churn v0002, not churn v0001, so versions were swapped")
    assert_unchanged(ran / "repo", before, failed_runs=1, message="swapped")
    found = invoke(ran, "verify")
    assert found.exit_code == 77
    assert f"{base / 'v0001'}: model.json describes v0002, not v0001 (versions swapped or copied by hand)" \
        in found.stdout


# =========================================================================== with a key: HMAC


def test_versions_are_signed_and_verified_with_the_key(signed: Path, key_file: Path) -> None:
    meta = json.loads((versions_dir(signed) / "v0002" / "model.json").read_text())
    data = (versions_dir(signed) / "v0002" / "model.joblib").read_bytes()
    assert meta["artifact"]["hmac_sha256"] == hmac.new(key_file.read_bytes().strip(), data, "sha256").hexdigest()
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 0, result.output
    # v0001 was registered before the key: with a key configured it is refused, and verify says so.
    refused = invoke(signed, "smoke", "v0001")
    assert refused.exit_code == 77
    assert "an HMAC key is configured but the version records no HMAC" in refused.stderr
    found = invoke(signed, "verify")
    assert found.exit_code == 77
    assert f"{versions_dir(signed) / 'v0001'}: Refusing to load" in found.stdout and "records no HMAC" in found.stdout
    assert "v0002" not in found.stdout


def test_a_forged_model_with_edited_digests_is_refused_by_the_hmac(signed: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    rewrite(signed, "v0002", model=pickle.dumps(Payload(sentinel)))
    pointer = (signed / "repo" / "deploy" / "churn.json").read_bytes()
    before = snapshot(signed / "repo")
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 77, result.output
    assert result.stderr == (
        f"Error: Refusing to load {versions_dir(signed) / 'v0002' / 'model.joblib'}: its HMAC does not match the one "
        "recorded at registration, so the file or its recorded digest was changed by someone without the key. "
        "Roll back with `lowops rollback` or retrain; do not use this file.\n")
    assert not sentinel.exists()
    assert (signed / "repo" / "deploy" / "churn.json").read_bytes() == pointer
    assert_unchanged(signed / "repo", before, failed_runs=1, message="HMAC does not match")
    assert "HMAC does not match" in invoke(signed, "verify").stdout


def test_a_removed_hmac_is_refused(signed: Path) -> None:
    rewrite(signed, "v0002", meta_change=lambda meta: meta["artifact"].pop("hmac_sha256"))
    result = invoke(signed, "run", "--window", "2025-04")
    assert result.exit_code == 77
    assert "records no HMAC" in result.stderr
    assert not (signed / "repo" / "outputs" / "2025-04").exists()


def test_a_model_from_another_registry_with_another_key_is_refused(signed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(b"not the key")
    other.chmod(0o600)
    data = (versions_dir(signed) / "v0002" / "model.joblib").read_bytes()
    rewrite(signed, "v0002", meta_change=lambda meta: meta["artifact"].update(
        hmac_sha256=hmac.new(b"not the key", data, "sha256").hexdigest()))
    result = invoke(signed, "score", "--window", "2025-03")
    assert result.exit_code == 77 and "HMAC does not match" in result.stderr


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
    model = versions_dir(ran) / "v0001" / "model.joblib"
    outside = tmp_path / "model.joblib"
    shutil.copy(model, outside)
    model.unlink()
    model.symlink_to(outside)
    result = invoke(ran, "score", "--window", "2025-03")
    assert result.exit_code == 77
    assert f"{model} leads outside the repository (to {outside})" in result.stderr


# =========================================================================== permissions


@pytest.mark.parametrize("where", ["models/churn/v0001", "models/churn/v0001/model.joblib", "models"])
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


@pytest.mark.timeout(300)
def test_the_registry_is_owner_writable_whatever_the_login_umask(lowops_bin: Path, tmp_path_factory: pytest.TempPathFactory,
                                                                 tmp_path: Path) -> None:
    import subprocess

    from reliability_support import fast_template

    project = copy_project(fast_template(tmp_path_factory), tmp_path / "churn")
    # umask 002 (the default for logins with a private group on many systems) would make new
    # directories group-writable, and the models in them refused.
    done = subprocess.run(["bash", "-c", f"umask 002 && '{lowops_bin}' -C '{project}' run --window 2025-01"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    repo = project / "repo"
    shared = [p for p in [repo, *repo.rglob("*")] if not p.is_symlink() and p.stat().st_mode & 0o022]
    assert shared == []
    assert (repo / "models" / "churn" / "v0001").stat().st_mode & 0o777 == 0o750
    assert (repo / "models" / "churn" / "v0001" / "model.joblib").stat().st_mode & 0o777 == 0o640


def test_verify_reports_a_registry_others_may_write(ran: Path) -> None:
    path = ran / "repo" / "models" / "churn" / "v0001"
    path.chmod(0o770)
    result = invoke(ran, "verify")
    assert result.exit_code == 77, result.output
    assert result.stdout == (f"{path}: writable by its group or others (mode 0770); lowops refuses to load models "
                             f"there: chmod go-w {path}\n")
    path.chmod(0o750)
    assert invoke(ran, "verify").exit_code == 0
