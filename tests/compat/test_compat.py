"""OpenRLHF's ``/get_reward`` and V-Triune's ``/judge`` over a live server, and where the
response begins in OpenRLHF's decoded query (``reward_service.compat.query``).

The V-Triune check sends every math and detection reward vector in V-Triune's own payload form
(what its trainer's reward proxy posts) and expects V-Triune's verdict: ``expect.vtriune`` where
the native semantics deliberately depart, else the native ``reward``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.live import LiveServer
from reward_service.compat.openrlhf import LOG_KEYS, NOT_LOCATED
from reward_service.compat.query import response_of
from reward_service.compat.vtriune_rows import answer_block
from tests.conftest import load_vectors

VTRIUNE_VERIFIERS = {"math": "mathverify", "detection": "detection"}
RATIO_NAMES = {
    "label_first": "iou_max_label_first",
    "iou_first": "iou_max_iou_first",
    "completeness": "iou_completeness",
    "map": "map",
    "map50": "map50",
    "map75": "map75",
}
JUDGE_VECTORS = [v for v in load_vectors() if v["sample"]["verifier"] in VTRIUNE_VERIFIERS]


def vtriune_payload(vector: dict[str, Any]) -> dict[str, Any]:
    """A native vector as V-Triune's reward proxy would post it to ``/judge``."""
    sample = vector["sample"]
    params = sample.get("params", {})
    weights = {"accuracy": 1.0, "format": 0.0, **sample.get("weights", {})}
    parm: dict[str, Any] = {
        "is_training": True,
        "step": vector.get("step", 0),
        "total_steps": vector.get("total_steps", 100),
        "image_grid_thw": None,
        "image_path": None,
    }
    solution = sample["ground_truth"]
    if sample["verifier"] == "detection":
        parm["det_reward_ratio"] = {RATIO_NAMES[k]: params[k] for k in RATIO_NAMES if k in params}
        if params.get("normalize_pixels"):
            width, height = params["image_size"]
            parm["det_verifier_normalized"] = True
            parm["image_grid_thw"] = [[1, height, width]]
        if not isinstance(solution, str):
            solution = f"<answer>{json.dumps(solution)}</answer>"
    return {
        "response": sample["response"],
        "prompt": "",
        "answer": "",
        "solution": str(solution),
        "data_source": sample["data_source"],
        "reward_verifier": VTRIUNE_VERIFIERS[sample["verifier"]],
        "reward_verifier_parm": json.dumps(parm),
        "format_ratio": weights["format"],
        "accuracy_ratio": weights["accuracy"],
    }


@pytest.fixture(scope="module")
def fixed_threshold_server() -> Iterator[LiveServer]:
    """A router whose /judge uses a fixed IoU threshold of 0.5 (V-Triune's DET_IOU_THRESHOLD)."""
    live = LiveServer.start(RAAS_JUDGE_IOU_THRESHOLD="0.5", RAAS_POOL_WORKERS="1")
    yield live
    live.stop()


def judge(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/judge", json=payload, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("vector", JUDGE_VECTORS, ids=lambda v: v["id"])
def test_judge_reproduces_vtriune(
    server: LiveServer, fixed_threshold_server: LiveServer, vector: dict[str, Any]
) -> None:
    threshold = vector["sample"].get("params", {}).get("iou_threshold", "dynamic")
    url = server.url if threshold == "dynamic" else fixed_threshold_server.url
    assert threshold in ("dynamic", 0.5)
    answer = judge(url, vtriune_payload(vector))
    expect = vector["expect"]
    rewards = answer["rewards"]
    assert {"format_reward", "accuracy_reward", "final_reward"} <= set(rewards)
    if "status" in expect:  # V-Triune scored these 0; /judge says why
        assert answer["status"] == expect["status"]
        assert rewards["accuracy_reward"] == 0.0
    else:
        want = expect.get("vtriune", expect["reward"])
        assert rewards["final_reward"] == pytest.approx(want, abs=1e-5)
        if "vtriune" not in expect:  # where V-Triune's verdict is the native one, so is status
            assert answer["status"] == "ok"


def test_vectors_cover_both_vtriune_verifiers() -> None:
    verifiers = {v["sample"]["verifier"] for v in JUDGE_VECTORS}
    assert verifiers == {"math", "detection"}
    assert len(JUDGE_VECTORS) >= 40
    assert any("vtriune" in v["expect"] for v in JUDGE_VECTORS)


def payload(**overrides: Any) -> dict[str, Any]:
    parm = {"is_training": True, "step": 1, "total_steps": 100}
    base = {
        "response": "<think>\nx\n</think>\n<answer>\n\\boxed{4}\n</answer>",
        "prompt": "p",
        "answer": "4",
        "solution": "\\boxed{4}",
        "data_source": "m",
        "reward_verifier": "mathverify",
        "reward_verifier_parm": json.dumps(parm),
    }
    return base | overrides


def test_judge_defaults_and_shape(server: LiveServer) -> None:
    answer = judge(server.url, payload())
    # V-Triune's defaults: accuracy_ratio 1, format_ratio 0.1
    assert answer == {
        "rewards": {
            "format_reward": 1.0,
            "accuracy_reward": 1.0,
            "reflection_reward": 0.0,
            "final_reward": pytest.approx(1.0),
        },
        "status": "ok",
        "error": None,
    }


def test_judge_unparsable_gold_keeps_the_format_reward(server: LiveServer) -> None:
    # V-Triune: a gold it cannot parse scores accuracy 0 but still pays the format (M10's gold)
    answer = judge(server.url, payload(solution="B", format_ratio=0.1, accuracy_ratio=1.0))
    assert answer["status"] == "invalid_input"
    assert answer["rewards"]["accuracy_reward"] == 0.0
    assert answer["rewards"]["format_reward"] == 1.0
    assert answer["rewards"]["final_reward"] == pytest.approx(0.1 / 1.1)


@pytest.mark.parametrize(
    "overrides",
    [
        {"reward_verifier": "no_such"},  # V-Triune raised inside its try: all zeros
        {"reward_verifier_parm": "{not json"},
        {"reward_verifier_parm": json.dumps({"is_training": True})},  # no step/total_steps
        {"reward_verifier_parm": json.dumps({"step": 1, "total_steps": 0})},  # divides by 0
        {"format_ratio": 0.0, "accuracy_ratio": 0.0},
    ],
)
def test_judge_crashes_become_zeros_with_a_status(
    server: LiveServer, overrides: dict[str, Any]
) -> None:
    answer = judge(server.url, payload(**overrides))
    assert answer["status"] == "invalid_input"
    assert answer["error"]
    assert answer["rewards"]["final_reward"] == 0.0
    assert answer["rewards"]["format_reward"] == 0.0


def vtriune_answer_block(text: str) -> str:
    found = re.search(r"<answer>(.*?)</answer>", text.strip(), re.DOTALL)
    return found.group(1).strip() if found else ""


@given(st.lists(st.sampled_from(["<answer>", "</answer>", "<ans", "wer>", " ", "\n", "x", "1"])))
def test_answer_block_reads_what_vtriunes_regex_reads(parts: list[str]) -> None:
    text = "".join(parts)
    assert answer_block(text) == vtriune_answer_block(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer> [1] </answer> <answer>[2]</answer>", "[1]"),  # the first block
        ("<answer>[1]", ""),  # never closed
        ("</answer><answer>x</answer>", "x"),
        ("<answer>" * 16_000 + "[1]", ""),  # 128 KB of openers: quadratic for the lazy regex
    ],
)
def test_answer_block_table(text: str, expected: str) -> None:
    assert answer_block(text) == expected


def test_judge_timeout_still_pays_the_format(server: LiveServer) -> None:
    # V-Triune scored a timed-out sample accuracy 0 with its format; raas scores the format
    # alone in the pool once the child that ran the accuracy has been killed
    bomb = "<think>\nx\n</think>\n<answer>\n\\boxed{10^{10^{10^{10}}}}\n</answer>"
    answer = judge(server.url, payload(response=bomb, format_ratio=0.1, accuracy_ratio=1.0))
    assert answer["status"] == "timeout"
    assert answer["rewards"]["accuracy_reward"] == 0.0
    assert answer["rewards"]["format_reward"] == 1.0


def test_judge_refuses_an_oversized_response_without_scoring_it(server: LiveServer) -> None:
    huge = "<think>\n" + "x" * 100_000 + "\n</think>\n<answer>\n4\n</answer>"
    answer = judge(server.url, payload(response=huge))
    assert answer["status"] == "invalid_input"
    assert "longer than 65536 characters" in answer["error"]
    assert answer["rewards"]["format_reward"] == 0.0  # not scanned at all (V-Triune paid it)


def test_judge_missing_field_is_422(server: LiveServer) -> None:
    body = payload()
    del body["solution"]
    response = httpx.post(f"{server.url}/judge", json=body, timeout=60)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["solution"]


def detection_payload(response: str, solution: str, **ratios: float) -> dict[str, Any]:
    parm = {"step": 1, "total_steps": 100, "det_reward_ratio": ratios}
    return payload(
        response=response,
        solution=solution,
        reward_verifier="detection",
        reward_verifier_parm=json.dumps(parm),
        format_ratio=0.0,
    )


def box_list(*boxes: list[int]) -> str:
    items = ", ".join(f"{{'bbox_2d': {box}, 'label': 'a'}}" for box in boxes)
    return f"<answer>\n[{items}]\n</answer>"


def test_judge_reproduces_the_iou_first_index_bug(server: LiveServer) -> None:
    # one exact box and one far-off box vs two GT boxes: natively one match (score 0.5);
    # V-Triune's loop pays IoU 1 twice (its recorded pair is not the argmax) → 1.0
    gt = box_list([0, 0, 100, 100], [500, 500, 600, 600])
    pred = f"\n{box_list([0, 0, 100, 100], [800, 800, 900, 900])}\n"
    ratios = {"iou_max_iou_first": 1.0, "iou_completeness": 0.3}
    answer = judge(server.url, detection_payload(pred, gt, **ratios))
    assert answer["rewards"]["accuracy_reward"] == pytest.approx(1.0)
    assert answer["rewards"]["pure_iou_score_max_iou_reward"] == pytest.approx(1.0)
    assert answer["rewards"]["size_penalty_reward"] == 1.0
    sample = {
        "response": pred,
        "ground_truth": gt,
        "verifier": "detection",
        "params": {"label_first": 0.0, "iou_first": 1.0, "completeness": 0.3},
    }
    body = {"step": 1, "total_steps": 100, "samples": [sample]}
    native = httpx.post(f"{server.url}/reward", json=body, timeout=60).json()
    assert native["results"][0]["reward"] == pytest.approx(0.5)


def test_judge_reads_missing_ratios_as_zero(server: LiveServer) -> None:
    # V-Triune: a det_reward_ratio without iou_completeness uses completeness 0 (not 0.3)
    gt, pred = box_list([0, 0, 100, 100]), f"\n{box_list([0, 0, 100, 90])}\n"
    answer = judge(server.url, detection_payload(pred, gt, iou_max_label_first=1.0))
    assert answer["rewards"]["accuracy_reward"] == pytest.approx(0.9)  # pure IoU at τ 0.85
    answer = judge(server.url, detection_payload(pred, gt, iou_max_label_first=2.0))
    assert answer["rewards"]["accuracy_reward"] == 0.0  # out of [0, 1] → 0: all weights 0


def test_root_answers_vtriunes_probe(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/", timeout=10).json() == {"message": "Reward Judge Server"}


# --- OpenRLHF -------------------------------------------------------------------------------


def get_reward(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/get_reward", json=body, timeout=60)


FORMATTED = {
    "verifier": "math",
    "ground_truth": "4",
    "format": "think_answer",
    "weights": {"accuracy": 1, "format": 1},
}
QWEN_PROMPT = (
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>How many? Answer in <answer>"
    "</answer>, e.g. <answer>9</answer>.<|im_end|>\n<|im_start|>assistant\n"
)
QWEN_QUERY = QWEN_PROMPT.replace("<|image_pad|>", "<|image_pad|>" * 64)


@pytest.mark.parametrize(
    ("query", "prompt", "response"),
    [
        ("Q: 2+2? A: 4", "Q: 2+2? A:", " 4"),  # text: the prompt, then the response
        ("<answer>4</answer>", None, "<answer>4</answer>"),  # no prompt: all of it
        ("<answer>4</answer>", "", "<answer>4</answer>"),
        # Qwen-VL: one <|image_pad|> in the prompt, one per merged patch in the query
        (QWEN_QUERY + "<answer>4</answer><|im_end|>", QWEN_PROMPT, "<answer>4</answer>"),
        (QWEN_QUERY + "4<|im_end|><|endoftext|>", QWEN_PROMPT, "4"),  # end-of-turn tokens off
        (QWEN_QUERY + "4\n<|im_end|>\n", QWEN_PROMPT, "4\n"),
        (QWEN_QUERY + "<|im_end|>", QWEN_PROMPT, ""),  # an empty response
        # Gemma 4: the image token → begin-of-image, the image token × N, end-of-image
        (
            "<|turn>user\n<boi><|image|><|image|><|image|><eoi>Count.<turn|>\n<|turn>model\n7<turn|>",
            "<|turn>user\n<|image|>Count.<turn|>\n<|turn>model\n",
            "7",
        ),
        # the prompt ends in a placeholder: its repeats are the prompt's, the rest the response's
        ("x<|image_pad|><|image_pad|><think>\n1</think>4", "x<|image_pad|>", "<think>\n1</think>4"),
        ("a<think>\n</think>B", "a<think>", "\n</think>B"),
        ("<|im_start|>x<|im_end|></answer>", "<|im_start|>x<|im_end|>", "</answer>"),
        # not the prompt: cut by OpenRLHF (left-truncated), other text, text in the expansion
        ("2+2? A: 4<|im_end|>", "Q: 2+2? A:", None),
        (QWEN_QUERY.replace("How", "Why") + "4", QWEN_PROMPT, None),
        (QWEN_QUERY.replace("<|vision_end|>", "text<|vision_end|>") + "4", QWEN_PROMPT, None),
        (QWEN_QUERY.replace("<|vision_start|>", "") + "4", QWEN_PROMPT, None),  # a token missing
        (QWEN_PROMPT[:-3], QWEN_PROMPT, None),  # shorter than its prompt
    ],
)
def test_response_of_the_query(query: str, prompt: str | None, response: str | None) -> None:
    assert response_of(query, prompt) == response


PLAIN = st.text(st.characters(exclude_characters="<>|"), max_size=30)


@given(
    parts=st.lists(st.tuples(PLAIN, st.integers(0, 300)), min_size=1, max_size=4),
    tail=PLAIN,
    answer=PLAIN,
)
def test_any_expanded_qwen_prompt_is_found(
    parts: list[tuple[str, int]], tail: str, answer: str
) -> None:
    """Text and images in any order, each image expanded to any number of pads (0: none)."""
    image = "<|vision_start|><|image_pad|><|vision_end|>"
    prompt = "".join(text + (image if pads else "") for text, pads in parts) + tail
    expanded = "".join(
        text + (image.replace("<|image_pad|>", "<|image_pad|>" * pads) if pads else "")
        for text, pads in parts
    )
    query = expanded + tail + answer + "<|im_end|>"
    assert response_of(query, prompt) == answer


def test_long_runs_of_tokens_are_read_in_linear_time() -> None:
    """300,000 tokens (3 MB, far inside the body limit) in a run: well under a second each,
    where reading them by copying (quadratic) took minutes."""
    n = 300_000
    start = time.perf_counter()
    assert (
        response_of("<|vision_start|>" + "<|image_pad|>" * n + "x", "<|vision_start|><|image_pad|>")
        == "x"
    )
    assert response_of("Q4" + "<|im_end|>" * n, "Q") == "4"
    assert response_of("Q" + "<|im_end|>" * n + "4", "Q<|im_end|>") == "4"
    assert response_of("Q" + "<|im_end|>" * n, "<|a|>" * n) is None
    assert time.perf_counter() - start < 10


def test_get_reward_scores_the_response_after_the_prompt(server: LiveServer) -> None:
    prompts = ["Q: \\boxed{9}? A:", "Q: 2+2? A:", "Q: 3+3? A:"]
    responses = [" \\boxed{4}", " \\boxed{4}", " \\boxed{5}"]
    body = {
        "query": [p + r for p, r in zip(prompts, responses, strict=True)],
        "prompts": prompts,
        "labels": ["4", "4", "6"],
    }
    answer = get_reward(server.url, body).json()
    # the \boxed{9} in the first prompt is not the answer: only the response is scored
    assert answer["rewards"] == [1.0, 1.0, 0.0]
    assert answer["scores"] == [1.0, 1.0, 0.0]
    assert answer["extra_logs"]["raas_unscored"] == [0.0, 0.0, 0.0]
    assert answer["status"] == ["ok", "ok", "ok"]


def test_get_reward_labels_may_carry_their_own_spec(server: LiveServer) -> None:
    labels = [
        {"verifier": "choice", "ground_truth": "B", "data_source": "mc"},
        "no-math-here ???",  # unscorable with the default math verifier
    ]
    answer = get_reward(
        server.url, {"query": ["<answer>B</answer>", "\\boxed{1}"], "labels": labels}
    ).json()
    assert answer["rewards"] == [1.0, 0.0]  # OpenRLHF cannot take null: 0.0 …
    assert answer["extra_logs"]["raas_unscored"] == [0.0, 1.0]  # … flagged
    assert answer["status"] == ["ok", "invalid_input"]
    assert answer["errors"] == [None, "ground truth 'no-math-here ???' has no math to parse"]


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("<think>\nx\n</think>\n<answer>\n4\n</answer>", FORMATTED),
        ("\\boxed{4}", "4"),  # no format score
        ("\\boxed{4}", "no-math-here ???"),  # unscorable
        ("cut", "4"),  # its prompt is not in the query
    ],
    ids=["format", "no-format", "unscored", "not-located"],
)
def test_get_reward_logs_every_key_for_every_sample(
    server: LiveServer, query: str, label: Any
) -> None:
    """OpenRLHF batches the logs of samples from separate requests by key: one sample per
    request must still carry them all."""
    prompt = "Q:" if query != "cut" else "Q: something"
    answer = get_reward(
        server.url, {"query": [prompt + query], "prompts": [prompt], "labels": [label]}
    ).json()
    assert tuple(answer["extra_logs"]) == LOG_KEYS
    assert all(len(values) == 1 for values in answer["extra_logs"].values())


def test_get_reward_masks_say_which_values_are_neutral(server: LiveServer) -> None:
    body = {
        "query": [
            "Q:<think>\nx\n</think>\n\\boxed{4}",
            "Q:\\boxed{5}",
            "Q:\\boxed{4}",
            "\\boxed{4}",
        ],
        "prompts": ["Q:", "Q:", "Q:", "Q: 2+2?"],
        "labels": [FORMATTED, "4", "no-math-here ???", "4"],
    }
    answer = get_reward(server.url, body).json()
    assert answer["extra_logs"] == {
        "accuracy": [1.0, 0.0, 0.0, 0.0],
        "format": [0.5, 0.0, 0.0, 0.0],
        "raas_unscored": [0.0, 0.0, 1.0, 1.0],
        "raas_no_format": [0.0, 1.0, 1.0, 1.0],
    }
    assert answer["rewards"] == [0.75, 0.0, 0.0, 0.0]
    assert answer["status"] == ["ok", "ok", "invalid_input", "invalid_input"]
    assert answer["errors"][3] == NOT_LOCATED


def test_get_reward_format_setting() -> None:
    live = LiveServer.start(
        RAAS_POOL_WORKERS="1", RAAS_OPENRLHF_FORMAT="think_answer", RAAS_OPENRLHF_FORMAT_WEIGHT="1"
    )
    try:
        query = "<think>\nx\n</think>\n\\boxed{4}"  # 2 of 4 tags, right answer
        answer = get_reward(live.url, {"query": [query], "labels": ["4"]}).json()
        assert answer["rewards"] == [pytest.approx((1.0 + 0.5) / 2)]
        assert answer["scores"] == [1.0]
        assert answer["extra_logs"]["format"] == [0.5]
    finally:
        live.stop()


def test_get_reward_takes_the_step_for_schedules(server: LiveServer) -> None:
    # a box of IoU 0.9: right while detection's dynamic τ is 0.85 (r ≤ 0.1), wrong at 0.95
    label = {"verifier": "detection", "ground_truth": [{"bbox_2d": [0, 0, 100, 100], "label": "c"}]}
    body = {
        "query": ['<answer>[{"bbox_2d": [0, 0, 100, 90], "label": "c"}]</answer>'],
        "labels": [label],
    }
    early, late, unsent = (
        get_reward(server.url, {**body, **schedule}).json()["scores"]
        for schedule in ({"step": 1, "total_steps": 10}, {"step": 2, "total_steps": 10}, {})
    )
    right = [pytest.approx(0.93)]  # matched at τ 0.85, less the box terms' shortfall
    assert (early, late, unsent) == (right, [0.0], right)  # OpenRLHF's own body: r = 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"query": ["a", "b"], "labels": ["1"]}, []),
        ({"prompts": ["a"]}, ["query"]),
        ({"query": [1]}, ["query", 0]),
        ({"query": ["a"], "step": -1}, ["step"]),
        ({"query": ["a"], "total_steps": 0}, ["total_steps"]),
    ],
)
def test_get_reward_malformed_is_422(
    server: LiveServer, body: dict[str, Any], loc: list[Any]
) -> None:
    response = get_reward(server.url, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
