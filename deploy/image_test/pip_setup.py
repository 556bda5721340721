"""The pip configuration an image build's RUN steps need to reach packages as this host does.

Writes a ``pip.conf`` naming the host's package index (as an extra index, so a step that picks
its own ``--index-url`` still finds the other packages there), its local wheel folders and its
CA bundle, and prints one ``buildah bud -v`` mount per line: that file, the bundle, the folders.

    python pip_setup.py OUT/pip.conf
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BUNDLE = "/etc/ssl/certs/host-ca-bundle.crt"
DEFAULT_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def host_config() -> dict[str, list[str]]:
    """``pip config list`` (files and ``PIP_*`` variables) as key → values, in pip's order."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    config: dict[str, list[str]] = {}
    for line in listed.splitlines():
        match = re.fullmatch(r"[^.]*\.([a-z-]+)='(.*)'", line)
        if match:
            config.setdefault(match.group(1), []).extend(match.group(2).split())
    return config


def default_index() -> str:
    from pip._internal.models.index import PyPI

    return str(PyPI.simple_url)


def main(out: Path) -> None:
    config = host_config()
    indexes = [url for url in config.get("index-url", []) if url.startswith("http")]
    wheels = [d for d in dict.fromkeys(config.get("find-links", [])) if Path(d).is_dir()]
    bundle = next(iter(config.get("cert", [])), DEFAULT_BUNDLE)
    lines = ["[global]", f"extra-index-url = {(indexes or [default_index()])[0]}"]
    if wheels:
        lines.append(f"find-links = {' '.join(wheels)}")
    if Path(bundle).is_file():
        lines.append(f"cert = {BUNDLE}")
    out.write_text("\n".join(lines) + "\n")
    mounts = [f"{out}:/etc/pip.conf:ro", *(f"{d}:{d}:ro" for d in wheels)]
    if Path(bundle).is_file():
        mounts.append(f"{bundle}:{BUNDLE}:ro")
    sys.stdout.write("\n".join(mounts) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
