"""slime against a live raas: its ``remote_rm`` wire contract at ``/slime`` and raas's custom
reward function, replayed from the README's flag blocks in the slime environment
(``drivers/slime_rm.py`` says what of slime is reproduced and from where: slime is GitHub-only
and needs GPUs, so its code does not run here).

Each test checks on the server side that raas scored the samples (its counters) and that what
slime would hold equals raas's own ``/reward`` answer for the same samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.live import LiveServer
from tests.trainers.conftest import Driver, counted, raas_results, requests_to
from tests.trainers.readme import readme_block

KEY = "slime-trainer-key-0123456789"
ROUTES = json.dumps(
    [
        {"data_source": "slime-vis", "verifier": "math", "with_images": {"verifier": "choice"}},
    ]
)
THINKING = "<think>\n" + "Let me re-check the sum, wait. " * 300 + "\n</think>\n"  # 9 kB
DETECTION = {
    "verifier": "detection",
    "data_source": "slime-det",
    "ground_truth": [{"bbox_2d": [0, 0, 100, 100], "label": "c"}],
}
BOX_IOU_90 = '<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "c"}]</answer>'
CHAT = [{"role": "system", "content": "Answer in \\boxed{}."}, {"role": "user", "content": "2+2?"}]


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    """raas with a route whose image variant scores with another verifier, so that the metrics
    show which samples arrived with images; and a key, sent as slime sends one (in the URL)."""
    server = LiveServer.start(RAAS_ROUTES=ROUTES, RAAS_POOL_WORKERS="1", RAAS_API_KEYS=KEY)
    yield server
    server.stop()


def keyed_url(server: LiveServer) -> str:
    return server.url.replace("://", f"://raas:{KEY}@")


def reward(server: LiveServer, samples: list[dict[str, Any]], **schedule: int) -> list[Any]:
    """raas's own answer for ``samples`` (``POST /reward``)."""
    return [r["reward"] for r in raas_results(server, samples, key=KEY, **schedule)]


REMOTE_GROUPS = [
    [  # one prompt's group: right, wrong, right with a 9 kB thinking, unscorable label
        {"index": 0, "prompt": "2+2?", "response": "<answer>\n\\boxed{4}\n</answer>", "label": "4"},
        {"index": 1, "prompt": "2+2?", "response": "\\boxed{5}", "label": "4"},
        {
            "index": 2,
            "prompt": "2+2?",
            "response": THINKING + "<answer>\n\\boxed{4}\n</answer>",
            "label": "4",
        },
        {"index": 3, "prompt": "2+2?", "response": "\\boxed{4}", "label": "no-math-here ???"},
    ],
    [  # chat prompt (no chat template applied), a label that is its own spec, a bad one
        {"index": 4, "prompt": CHAT, "response": "\\boxed{4}", "label": "4"},
        {
            "index": 5,
            "prompt": CHAT,
            "response": "<answer>B</answer>",
            "label": {"verifier": "choice", "ground_truth": "B", "data_source": "slime-mc"},
        },
        {
            "index": 6,
            "prompt": CHAT,
            "response": "\\boxed{4}",
            "label": {"verifier": "math", "ground_truth": "4", "params": {"no_such_param": 1}},
        },
    ],
]


def remote_expected(fields: dict[str, Any]) -> dict[str, Any]:
    """The raas sample the README's ``--rm-url`` makes of slime's payload."""
    prompt = fields["prompt"]
    sample = {
        "data_source": "slime",
        "verifier": "math",
        "format": "think_answer",
        "weights": {"accuracy": 1.0, "format": 0.1},
        "response": fields["response"],
        "prompt": prompt if isinstance(prompt, str) else "".join(m["content"] for m in prompt),
        "ground_truth": fields["label"],
    }
    if isinstance(fields["label"], dict):
        sample.update(fields["label"])
    return sample


def test_remote_rm_scores_slimes_payloads_as_raas_does(live: LiveServer, driver: Driver) -> None:
    samples = [s for group in REMOTE_GROUPS for s in group]
    before = requests_to(live, "/slime"), counted(live, "raas_samples_total", data_source="slime")
    job = {
        "flags": readme_block("slime-remote-rm"),
        "url": keyed_url(live),
        "groups": REMOTE_GROUPS,
    }
    got = driver("slime", "slime_rm.py", json.dumps(job))
    assert got["errors"] == [None] * len(samples)
    assert requests_to(live, "/slime") - before[0] == len(samples)  # one request per sample
    scored_here = counted(live, "raas_samples_total", data_source="slime") - before[1]
    assert scored_here == 5  # the mc sample is its own source; the bad spec never reaches one
    expected = reward(live, [remote_expected(s) for s in samples[:6]])
    assert got["rewards"][:3] == expected[:3]
    assert got["rewards"][4:6] == expected[4:6]
    # right with one of four format tags, wrong, right with all four (format weight 0.1)
    assert got["rewards"][:3] == [pytest.approx((1 + 0.1 * 0.25) / 1.1), 0.0, 1.0]
    # unscorable: the neutral 0.0, flagged, and masked out of the loss by the README's filter
    assert expected[3] is None
    assert got["rewards"][3] == 0.0
    assert got["answers"][3]["raas_unscored"] == 1.0
    assert got["answers"][3]["status"] == ("invalid_input")
    assert got["answers"][6]["status"] == "invalid_input"
    assert "no_such_param" in got["answers"][6]["error"]
    assert got["removed"] == [False, False, False, True, False, False, True]
    assert {tuple(a) for a in got["answers"]} == {
        ("reward", "accuracy", "format", "raas_unscored", "status", "error")
    }  # the same keys for every sample


def test_remote_rm_without_the_key_fails_as_slime_sees_it(live: LiveServer, driver: Driver) -> None:
    job = {
        "flags": readme_block("slime-remote-rm"),
        "url": live.url,
        "groups": [REMOTE_GROUPS[0][:1]],
    }
    assert driver("slime", "slime_rm.py", json.dumps(job))["errors"] == ["HTTP 401"]


CUSTOM_GROUPS = [
    [  # metadata carries the spec; a PIL image routes to the image variant (choice)
        {
            "index": 0,
            "prompt": "2+2?",
            "response": "\\boxed{4}",
            "label": "4",
            "metadata": {"verifier": "math", "data_source": "slime-custom"},
        },
        {
            "index": 1,
            "prompt": CHAT,
            "response": THINKING + "\\boxed{5}",
            "label": "4",
            "metadata": {"verifier": "math", "data_source": "slime-custom"},
        },
        {
            "index": 2,
            "prompt": "Which?",
            "response": "<answer>B</answer>",
            "label": "B",
            "metadata": {"data_source": "slime-vis"},
            "images": ["red"],
        },
        {
            "index": 3,
            "prompt": "2+2?",
            "response": "\\boxed{4}",
            "label": "no-math ???",
            "metadata": {"verifier": "math", "data_source": "slime-custom"},
        },
    ],
    [  # the dynamic IoU threshold follows slime's rollout id
        {
            "index": 4,
            "prompt": "Find c.",
            "response": BOX_IOU_90,
            "label": DETECTION["ground_truth"],
            "metadata": dict(DETECTION),
        },
    ],
]


def custom_expected(fields: dict[str, Any], images: list[str]) -> dict[str, Any]:
    prompt = fields["prompt"]
    return {
        "data_source": "slime",
        "response": fields["response"],
        "ground_truth": fields["label"],
        "prompt": prompt if isinstance(prompt, str) else "".join(m["content"] for m in prompt),
        **{k: v for k, v in fields["metadata"].items() if k != "ground_truth"},
        **({"images": ["data:image/png;base64," + i for i in images]} if images else {}),
    }


@pytest.mark.parametrize("group_rm", [True, False], ids=["group-rm", "per-sample"])
def test_custom_rm_sends_metadata_images_and_the_rollout_id(
    live: LiveServer, driver: Driver, group_rm: bool
) -> None:
    samples = [s for group in CUSTOM_GROUPS for s in group]
    flags = readme_block("slime-custom-rm")
    assert "--group-rm" in flags.split()
    job = {
        "flags": flags if group_rm else flags.replace("--group-rm", ""),
        "extra_flags": ["--num-rollout", "10"],
        "groups": CUSTOM_GROUPS,
        "rollout_id": 2,
    }
    env = {"RAAS_URL": live.url, "RAAS_API_KEY": KEY}
    before = (
        requests_to(live, "/reward"),
        counted(live, "raas_samples_total", verifier="choice"),
        counted(live, "raas_samples_total", data_source="slime-custom"),
    )
    got = driver("slime", "slime_rm.py", json.dumps(job), env=env)
    assert requests_to(live, "/reward") - before[0] == (2 if group_rm else len(samples))
    # the image arrived: the route's image variant scored it
    assert counted(live, "raas_samples_total", verifier="choice") - before[1] == 1
    assert counted(live, "raas_samples_total", data_source="slime-custom") - before[2] == 3
    expected = [custom_expected(s, i) for s, i in zip(samples, got["images"], strict=True)]
    want = reward(live, expected[:4]) + reward(live, expected[4:], step=2, total_steps=10)
    assert want[3] is None
    assert got["rewards"] == [*want[:3], 0.0, want[4]]
    assert got["rewards"][4] == 0.0  # IoU 0.9 is wrong at step 2 of 10 (τ 0.95) …
    assert reward(live, expected[4:], step=1, total_steps=10)[0] > 0.9  # … right at step 1
    assert got["removed"] == [False, False, False, True, False]
    assert [m["raas_step"] for m in got["metadata"]] == [2] * len(samples)
    assert got["raas"][3]["status"] == "invalid_input"
    assert got["raas"][3]["error"]
    assert got["raas"][0] == {"status": "ok", "components": {"accuracy": 1.0}, "error": None}


def test_custom_rm_without_the_hook_sends_no_step(live: LiveServer, driver: Driver) -> None:
    flags = "--custom-rm-path trainer_client.slime.rm"
    job = {"flags": flags, "groups": [CUSTOM_GROUPS[1]], "rollout_id": 2}
    env = {"RAAS_URL": live.url, "RAAS_API_KEY": KEY}
    got = driver("slime", "slime_rm.py", json.dumps(job), env=env)
    assert got["rewards"][0] > 0.9  # no step: the schedule's first threshold (τ 0.85)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("verifier=math", 200),
        ("verifier=nope", 422),
        ("format=nope&verifier=math", 422),
        ("format_weight=-1&verifier=math", 422),
        ("", 422),
        ("data_source=slime-vis", 200),
    ],
)
def test_slime_url_errors_are_422(live: LiveServer, query: str, status: int) -> None:
    """What fails every sample alike is a 422 (slime gives up after its retries); a routed
    ``data_source`` needs no verifier in the URL."""
    body = {"prompt": "p", "response": "\\boxed{4}", "label": "4"}
    response = httpx.post(f"{keyed_url(live)}/slime?{query}", json=body, timeout=60)
    assert response.status_code == status, response.text
