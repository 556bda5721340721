"""What the NeMo Gym tests share: raas's routes for them, rows in NeMo Gym's layout, and the
config whose resources-server entry is raas's own host and port (agents run outside NeMo Gym's
launcher; the launcher refuses it, which ``test_nemo_gym_launch.py`` shows)."""

from __future__ import annotations

import json
from typing import Any

ROUTES = json.dumps(
    [
        {"data_source": "nemo_gym", "verifier": "math"},
        {"data_source": "gym-vis", "verifier": "math", "with_images": {"verifier": "choice"}},
    ]
)
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMB"
    "AQDJ/pLvAAAAAElFTkSuQmCC"
)
THINKING = "Let me re-check that, wait. " * 300  # 8 kB of reasoning
DIRECT_CONFIG = """
raas:
  resources_servers:
    raas: {host: raas, port: 8000, domain: math}
math_simple_agent:
  responses_api_agents:
    simple_agent:
      entrypoint: app.py
      resources_server: {type: resources_servers, name: raas}
      model_server: {type: responses_api_models, name: policy_model}
"""


def user(text: str, *images: str, agent: dict[str, str] | None = None) -> dict[str, Any]:
    """A row whose prompt is one user message (text, then images), for ``agent`` if given."""
    parts = [{"type": "input_text", "text": text}]
    parts += [{"type": "input_image", "image_url": i, "detail": "auto"} for i in images]
    row: dict[str, Any] = {
        "responses_create_params": {"input": [{"role": "user", "content": parts}]}
    }
    return row if agent is None else {"agent_ref": agent, **row}
