"""``audit.log``: the append-only, hash-chained record of approvals, rejections, promotions, rollbacks.

One JSON object per line. Each line carries ``key``, the id of the repository
key that signed it (:mod:`lowops.io.keys`), ``prev``, the HMAC of the line
before it under that key (64 zeros for the first), and ``hash``, the HMAC of
its own content without that field. ``audit.head`` (replaced atomically after
every append) holds the number of lines and the last line's HMAC, so removing
lines from the end is detected too. Editing any byte, removing or reordering a
line breaks the chain, and without the key no one can write a chain that
verifies: ``lowops verify`` reports it (exit 77). A repository opened without
any key (a library caller's) chains plain sha256 digests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.errors import IntegrityError
from lowops.io import keys, layout
from lowops.io.files import append_line, read_json, write_json
from lowops.io.layout import AUDIT_HEAD_FILE as HEAD_FILE
from lowops.io.layout import AUDIT_LOG_FILE as AUDIT_FILE
from lowops.io.logs import utc_now

GENESIS = "0" * 64


def audit_path(repo: Path) -> Path:
    return layout.audit_log(repo)


def head_path(repo: Path) -> Path:
    return layout.audit_head(repo)


def _hash(data: bytes, key: bytes | None) -> str:
    return keys.mac(key, data) if key is not None else hashlib.sha256(data).hexdigest()


def _digest(record: dict[str, Any], key: bytes | None) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _hash(blob.encode("utf-8"), key)


def _line_hash(line: str, key: bytes | None) -> str:
    return _hash(line.encode("utf-8"), key)


def _key_of(record: dict[str, Any], trusted: keys.Keys) -> tuple[bytes | None, str | None]:
    """The key a line was signed with, or why it cannot be checked."""
    signer = record.get("key")
    if signer is None:
        return None, ("not signed with the repository's key (edited or forged)" if trusted.accepted else None)
    key = trusted.accepted.get(signer) if isinstance(signer, str) else None
    return key, (None if key is not None else f"signed with key {signer}, which is not the repository's")


def read_entries(repo: Path) -> list[dict[str, Any]]:
    """Every audit record, oldest first (unchecked: ``check_chain`` verifies them)."""
    path = audit_path(repo)
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            entries.append(record)
    return entries


def append(repo: Path, action: str, *, model: str, version: str | None, by: str, reason: str,
           **details: Any) -> dict[str, Any]:
    """Append one record to the chain (the caller holds the repository lock).

    Raises:
        IntegrityError: the existing chain is broken; nothing is appended to it.
    """
    problems = check_chain(repo)
    if problems == [HEAD_BEHIND]:
        repair_head(repo)  # the last append was interrupted after its line: record that line first
        problems = check_chain(repo)
    if problems:
        raise IntegrityError(f"{audit_path(repo)} is damaged ({problems[0]}); nothing was appended. "
                             "Restore it from a backup, then run `lowops verify`.")
    path = audit_path(repo)
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    key = keys.of(repo).signing
    record: dict[str, Any] = {
        "seq": len(lines) + 1, "at": utc_now(), "action": action, "model": model, "version": version,
        "by": secrets.redact(by), "reason": secrets.redact(" ".join(reason.split())),
        **details, "prev": _line_hash(lines[-1], key) if lines else GENESIS,
    }
    if key is not None:
        record["key"] = keys.key_id(key)
    record["hash"] = _digest(record, key)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    append_line(path, line)
    write_json(head_path(repo), _head(record["seq"], line, key), overwrite=True)
    return record


def _head(lines: int, last: str, key: bytes | None) -> dict[str, Any]:
    head: dict[str, Any] = {"lines": lines, "last": _line_hash(last, key)}
    if key is not None:
        head["key"] = keys.key_id(key)
    return head


HEAD_BEHIND = (f"{HEAD_FILE} is one line behind {AUDIT_FILE}: the last append was interrupted before it was "
               "recorded (repairable with --repair)")


def repair_head(repo: Path) -> bool:
    """Record an intact last line that an interrupted append left out of ``audit.head``.

    Only when that is the chain's one problem: the log is one whole, well-chained
    line ahead of the head. Returns whether the head was rewritten.
    """
    if check_chain(repo) != [HEAD_BEHIND]:
        return False
    lines = audit_path(repo).read_text(encoding="utf-8").splitlines()
    # The line itself carries its key's HMAC (checked above): the head records it, it vouches for nothing new.
    key, _ = _key_of(json.loads(lines[-1]), keys.of(repo))
    write_json(head_path(repo), _head(len(lines), lines[-1], key), overwrite=True)
    return True


def check_chain(repo: Path) -> list[str]:
    """Every break in the chain, as ``line N: what`` (empty when intact)."""
    path = audit_path(repo)
    head = head_path(repo)
    if not path.is_file():
        return [f"{HEAD_FILE} exists but {AUDIT_FILE} is missing (removed)"] if head.is_file() else []
    problems = []
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"not valid UTF-8 ({exc.reason} at byte {exc.start})"]
    if raw and not raw.endswith("\n"):
        problems.append("the last line is incomplete (no newline)")
    lines = raw.splitlines()
    trusted = keys.of(repo)
    key: bytes | None = None
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            problems.append(f"line {number}: not a JSON record (edited)")
            continue
        key, unsigned = _key_of(record, trusted)
        if unsigned is not None:
            problems.append(f"line {number}: {unsigned}")
            continue
        expected = _line_hash(lines[number - 2], key) if number > 1 else GENESIS
        if record.get("seq") != number:
            problems.append(f"line {number}: sequence number {record.get('seq')} (removed or reordered)")
        if record.get("prev") != expected:
            problems.append(f"line {number}: does not chain to the line before it (edited, removed or reordered)")
        if record.get("hash") != _digest(record, key):
            problems.append(f"line {number}: content does not match its hash (edited)")
    previous = _line_hash(lines[-1], key) if lines else GENESIS
    if not head.is_file():
        if lines and not problems and len(lines) == 1:
            problems.append(HEAD_BEHIND)  # the very first append, interrupted before its head was written
        elif lines:
            problems.append(f"{HEAD_FILE} is missing")
    else:
        try:
            info = read_json(head)
        except IntegrityError:
            info = None
        if not isinstance(info, dict):
            problems.append(f"{HEAD_FILE} is not valid")
        elif (not problems and info.get("lines") == len(lines) - 1
              and info.get("last") == (_line_hash(lines[-2], key) if len(lines) > 1 else None)):
            # The line was appended, then the process died (or the disk failed) before the head was replaced.
            problems.append(HEAD_BEHIND)
        elif info.get("lines") != len(lines) or info.get("last") != (previous if lines else None):
            problems.append(f"{HEAD_FILE} records {info.get('lines')} line(s) ending in "
                            f"{str(info.get('last'))[:12]}…, the log has {len(lines)} (lines removed or edited)")
    return problems
