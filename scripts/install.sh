#!/bin/sh
# The one way Earworm is installed: CI (`make test`, `make demo`) and the Docker image run
# this same script, so an install step that works in one works in the other.
# Usage: scripts/install.sh VENV PIP_TARGET...   e.g. scripts/install.sh .venv -e ".[dev]"
set -eu
venv=${1:?usage: scripts/install.sh VENV PIP_TARGET...}
shift
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch==2.13.0 is pinned in pyproject.toml: that exact release is the CPU build here.
"$venv/bin/python" -m pip install --quiet "$@"
