"""Fixtures of the image tests, run by ``deploy/image_test/run.sh`` (``make image-test``) once it
has built the image, with podman pointed at that script's own storage. Not part of ``make test``.
"""

from __future__ import annotations

import logging

import pytest
from containers import IMAGE, logger, podman

logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the results


@pytest.fixture(scope="session")
def image() -> str:
    inspected = podman("image", "inspect", "--format", "{{.Id}} {{.Size}}", IMAGE).stdout.split()
    logger.info("image %s: %s, %d MB", IMAGE, inspected[0][:12], int(inspected[1]) // 1_000_000)
    return IMAGE
