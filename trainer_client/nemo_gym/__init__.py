"""raas's NeMo Gym resources server, where NeMo Gym looks for servers outside its own package.

This folder is a NeMo Gym search root: it holds ``resources_servers/raas/`` (``app.py``, the
entrypoint; ``requirements.txt``, what NeMo Gym installs in the server's virtual environment;
``configs/raas.yaml``, the server, an agent and an environment server). NeMo Gym 0.7.0 finds a
server's folder under the roots in ``NEMO_GYM_EXTRA_ROOTS`` (``gym --search-dir``) before its
working directory and its own install (``nemo_gym.component_search_roots``), and reads
``config_paths`` from there too. ``python -m trainer_client.nemo_gym`` prints this folder::

    export NEMO_GYM_EXTRA_ROOTS="$(python -m trainer_client.nemo_gym)"

Nothing here imports NeMo Gym: only ``app.py`` does, in the process NeMo Gym starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

SEARCH_ROOT = Path(__file__).resolve().parent
SERVER_DIR = SEARCH_ROOT / "resources_servers" / "raas"
CONFIG_PATH = "resources_servers/raas/configs/raas.yaml"  # as NeMo Gym's config_paths name it


def main() -> None:
    sys.stdout.write(f"{SEARCH_ROOT}\n")
