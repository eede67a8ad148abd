#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml: exact versions with SHA-256 hashes, for
# CPython 3.11 on Linux.
#   requirements.lock          runtime + the dev extra (scripts/setup.sh, CI)
#   requirements-runtime.lock  runtime only, the same versions (Dockerfile)
#
#   scripts/lock.sh                 keep the locked versions pyproject.toml still allows
#   scripts/lock.sh --upgrade       take the newest versions pyproject.toml allows
#   scripts/lock.sh -P fastapi      upgrade one package
#
# Uses uv (https://docs.astral.sh/uv/) from PATH, else a pinned copy installed from PyPI into
# .cache/uv-tool. Commit pyproject.toml and both lock files together; scripts/check_lock.py
# (run by setup.sh and the test suite) fails when they disagree.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
UV=${UV:-}
if [ -z "$UV" ]; then
  if command -v uv >/dev/null 2>&1; then
    UV=uv
  else
    tool=.cache/uv-tool
    if [ ! -x "$tool/bin/uv" ]; then
      python3 -m venv "$tool"
      "$tool/bin/pip" install -q "uv==$UV_VERSION"
    fi
    UV=$tool/bin/uv
  fi
fi

common=(--python-version 3.11 --python-platform linux --generate-hashes --quiet
        --custom-compile-command "scripts/lock.sh")
"$UV" pip compile pyproject.toml --extra dev "${common[@]}" -o requirements.lock "$@"
# runtime only, constrained to the versions just locked
"$UV" pip compile pyproject.toml "${common[@]}" --constraint requirements.lock \
  -o requirements-runtime.lock "$@"
.venv/bin/python scripts/check_lock.py 2>/dev/null || python3 scripts/check_lock.py
