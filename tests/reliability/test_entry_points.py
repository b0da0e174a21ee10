"""A bad setting stops every entry point with its one-line message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = "Steward cannot start: Environment variable DEBUG='maybe' is not a valid boolean"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DEBUG"] = "maybe"
    return subprocess.run(  # noqa: S603
        [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["manage.py", "check"], 1),
        (["-m", "celery", "-A", "config", "worker", "--pool=solo"], 1),
        (["-c", "import config.wsgi"], 4),
        (["-c", "import config.asgi"], 4),
    ],
    ids=["manage.py", "celery", "wsgi", "asgi"],
)
def test_a_bad_setting_prints_one_line_and_exits_non_zero(argv, code):
    result = _run(*argv)

    assert result.returncode == code, result.stderr
    assert result.stderr.strip().startswith(MESSAGE), result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
