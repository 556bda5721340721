"""Orsta's tasks as V-Triune's data gives them, a mixed set of answers to them, and V-Triune's own
rewards for that set: the fixture ``tests/vectors/orsta_vtriune.json`` that ``routes/orsta.yaml``
is checked against (``tests/routing/test_presets.py``).

CI has no copy of V-Triune's code, so its rewards are recorded here once. Regenerate the fixture
(after changing :func:`orsta_samples`, or to check a newer V-Triune) from a checkout of
https://github.com/MiniMax-AI/One-RL-to-See-Them-All — its ``reward_server/`` is imported as
V-Triune's server runs it (``cd reward_server``; ``DET_IOU_THRESHOLD=dynamic`` as in
``scripts/reward_server.sh``) and each sample goes through its ``/judge`` handler
(``judge_reward``), so its final-reward formula is V-Triune's too::

    git -C <bare mirror> archive HEAD reward_server | tar -x -C /tmp/vtriune
    .venv/bin/python -m devtools.vtriune_orsta /tmp/vtriune [--commit <sha>]

It needs what V-Triune's reward-server image installs: math-verify (in raas's environment),
FastAPI, pydantic, numpy.

:data:`ORSTA_TASKS` is what V-Triune's data says per task (``reward_model.verifier``,
``verifier_parm``, ``accuracy_ratio``, ``format_ratio``): reasoning, counting and OCR rows
are checked by math-verify with no format reward (their prompts ask for a free-form answer in
``\\boxed{}``), detection and grounding by the detection verifier at format ratio 0.1 (V-Triune's
default) with the IoU-max label-first match.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "orsta_vtriune.json"
IOU_THRESHOLD = "dynamic"  # scripts/reward_server.sh: DET_IOU_THRESHOLD=dynamic
REWARDS = ("format", "accuracy", "final")
LABEL_FIRST = {"det_reward_ratio": {"iou_max_label_first": 1.0}}

# route glob → (reward_model.verifier, verifier_parm, accuracy_ratio, format_ratio)
ORSTA_TASKS: dict[str, tuple[str, dict[str, Any], float, float]] = {
    "orsta/math*": ("mathverify", {}, 1.0, 0.0),
    "orsta/puzzle*": ("mathverify", {}, 1.0, 0.0),
    "orsta/science*": ("mathverify", {}, 1.0, 0.0),
    "orsta/chart*": ("mathverify", {}, 1.0, 0.0),
    "orsta/counting*": ("mathverify", {}, 1.0, 0.0),
    "orsta/ocr*": ("mathverify", {}, 1.0, 0.0),
    "orsta/detection*": ("detection", LABEL_FIRST, 1.0, 0.1),
    "orsta/grounding*": ("detection", LABEL_FIRST, 1.0, 0.1),
}

# data_source → [(gold, a wrong answer)]: golds as Orsta's rows write them; 12.9 for 12.5 is
# within chart's 5 % tolerance (what orsta_native.yaml pays and V-Triune does not)
REASONING: dict[str, list[tuple[str, str]]] = {
    "orsta/math_mmmath": [("4", "5"), ("$\\frac{1}{2}$", "\\frac{1}{3}"), ("2\\sqrt{3}", "3")],
    "orsta/puzzle_puzzlevqa": [("12", "13"), ("blue", "red")],
    "orsta/science_scienceqa": [("0.25", "0.5"), ("$4$", "2")],
    "orsta/chart_chartqapro": [("42", "45"), ("12.5", "12.9"), ("40\\%", "45\\%")],
    "orsta/counting_clevr": [("3", "4"), ("7", "6")],
    "orsta/ocr_estvqa": [("STOP", "SHOP"), ("2019", "2018")],
}
STEPS = [(5, 100), (20, 100), (60, 100)]  # step ratio under 0.1, under 0.25, above: 0.85/0.95/0.99
THINKING = (
    "First I look at the figure. There are 2 parts on the left and 9 on the right, so 11 in all; "
    "the scale reads 0.5 per unit and the label says 30 degrees. "
)


def think(answer: str, reasoning: str = "Let me see.") -> str:
    """V-Triune's close-form layout, newlines as its format check counts them."""
    return f"<think>\n{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"


def reasoning_answers(gold: str, wrong: str) -> list[tuple[str, str]]:
    """(kind, response) for one question: right, wrong, hedged, badly formatted, long."""
    bare = gold.strip("$")
    long = THINKING * 40  # about 6 kB of reasoning, numbers in it
    return [
        ("right_closeform", think(f"\\boxed{{{bare}}}")),
        ("right_freeform", f"The figure shows it. So the answer is \\boxed{{{bare}}}."),
        ("wrong", think(f"\\boxed{{{wrong}}}")),
        ("hedge_wrong_first", f"It is \\boxed{{{wrong}}} or \\boxed{{{bare}}}."),
        ("hedge_right_first", f"It is \\boxed{{{bare}}} or \\boxed{{{wrong}}}."),
        ("unboxed", f"The answer is {bare}."),
        ("no_newlines", f"<think>Let me see.</think><answer>\\boxed{{{bare}}}</answer>"),
        ("lower_case", f"\\boxed{{{bare.lower()}}}"),
        ("long_right", think(f"\\boxed{{{bare}}}", long)),
        ("long_wrong", think(f"\\boxed{{{wrong}}}", long)),
        ("wrong_in_thinking", think(f"\\boxed{{{bare}}}", f"Maybe \\boxed{{{wrong}}}? No.")),
        ("right_in_thinking", think(f"\\boxed{{{wrong}}}", f"Maybe \\boxed{{{bare}}}? No.")),
        ("truncated", "<think>\n" + long),
    ]


def box(coords: list[int], label: str) -> dict[str, Any]:
    return {"bbox_2d": coords, "label": label}


def moved(boxes: list[dict[str, Any]], scale: tuple[float, ...], shift: float = 0.0) -> Boxes:
    """``boxes`` with each coordinate times its ``scale`` plus ``shift`` (whole pixels, as a
    model writes them), labels kept."""
    return [
        box([round(v * k + shift) for v, k in zip(b["bbox_2d"], scale, strict=True)], b["label"])
        for b in boxes
    ]


Boxes = list[dict[str, Any]]
SAME, QUARTER, HALF_HEIGHT = (1.0,) * 4, (0.25,) * 4, (1.0, 0.5, 1.0, 0.5)
DOG, CAT = box([100, 100, 400, 400], "dog"), box([500, 500, 900, 800], "cat")
DETECTION: dict[str, Boxes] = {"orsta/detection_v3det": [DOG, CAT], "orsta/grounding_d3": [DOG]}


def _solution(boxes: Boxes) -> str:
    """Orsta's detection solution: the boxes as Python writes them, in an answer block."""
    return f"<answer> {[dict(b) for b in boxes]} </answer>"


def detection_answers(gold: Boxes) -> list[tuple[str, str]]:
    """(kind, response): right, off by a few pixels, far, extra and missing boxes, a wrong label,
    badly formatted answers."""
    extra = [*gold, box([10, 10, 60, 60], gold[0]["label"])]
    relabelled = [box(b["bbox_2d"], "horse") for b in gold]
    return [
        ("right", think(json.dumps(gold))),
        ("near", think(json.dumps(moved(gold, SAME, 6)))),
        ("far", think(json.dumps(moved(gold, QUARTER)))),
        ("extra_box", think(json.dumps(extra))),
        ("missing_box", think(json.dumps(gold[:1] if len(gold) > 1 else []))),
        ("wrong_label", think(json.dumps(relabelled))),
        ("python_quotes", think(str(gold))),
        ("no_newlines", f"<think>x</think><answer>{json.dumps(gold)}</answer>"),
        ("no_answer_tag", json.dumps(gold)),
        ("long_right", think(json.dumps(gold), THINKING * 40)),
        ("truncated", "<think>\n" + THINKING * 40),
    ]


def _row(task: str) -> tuple[str, dict[str, Any], float, float]:
    return next(v for glob, v in ORSTA_TASKS.items() if task.startswith(glob.rstrip("*")))


def _sample(
    sample_id: str,
    source: str,
    solution: str,
    response: str,
    step: int,
    parm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One Orsta row's reward fields (its task's, ``parm`` replacing its ``verifier_parm``) with
    a response, at ``step`` of 100."""
    verifier, task_parm, accuracy, fmt = _row(source)
    return {
        "id": sample_id,
        "data_source": source,
        "verifier": verifier,
        "solution": solution,
        "verifier_parm": task_parm if parm is None else parm,
        "accuracy_ratio": accuracy,
        "format_ratio": fmt,
        "response": response,
        "step": step,
        "total_steps": 100,
    }


def _detection_samples(source: str, gold: Boxes) -> list[dict[str, Any]]:
    """Each answer kind at every dynamic-threshold stage, and a row in pixels
    (``det_verifier_normalized``, a 1000 × 500 px input)."""
    samples = [
        _sample(f"{source}:{step}:{kind}", source, _solution(gold), response, step)
        for step, _ in STEPS
        for kind, response in detection_answers(gold)
    ]
    parm = {**_row(source)[1], "det_verifier_normalized": True, "image_grid_thw": [[1, 500, 1000]]}
    pixels = moved(gold, HALF_HEIGHT)  # the grid's boxes in pixels of the 1000 × 500 image
    for kind, answer in (("pixels_right", pixels), ("pixels_as_grid", gold)):
        response = think(json.dumps(answer))
        samples.append(_sample(f"{source}:px:{kind}", source, _solution(gold), response, 60, parm))
    return samples


def orsta_samples() -> list[dict[str, Any]]:
    """The mixed set: every Orsta source, each answer kind."""
    samples = [
        _sample(f"{source}:{q}:{kind}", source, gold, response, 1)
        for source, questions in REASONING.items()
        for q, (gold, wrong) in enumerate(questions)
        for kind, response in reasoning_answers(gold, wrong)
    ]
    for source, gold in DETECTION.items():
        samples += _detection_samples(source, gold)
    return samples


def vtriune_rewards(checkout: Path, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """V-Triune's ``/judge`` answer for each sample, from its own handler in ``checkout``;
    ``gold_unparsed`` where its server printed that math-verify could not parse the solution
    (it then pays 0, which raas answers ``invalid_input``: a row to fix, not a wrong answer)."""
    os.environ["DET_IOU_THRESHOLD"] = IOU_THRESHOLD
    sys.path.insert(0, str(checkout / "reward_server"))
    server = __import__("reward_serving_fastapi")  # V-Triune's module, found on its path only
    rewards = []
    for sample in samples:
        parm = {
            **sample["verifier_parm"],
            "is_training": True,
            "step": sample["step"],
            "total_steps": sample["total_steps"],
        }  # as its trainer adds them
        payload = server.Payload(
            response=sample["response"],
            prompt="",
            answer="",
            solution=sample["solution"],
            data_source=sample["data_source"],
            reward_verifier=sample["verifier"],
            reward_verifier_parm=json.dumps(parm),
            format_ratio=sample["format_ratio"],
            accuracy_ratio=sample["accuracy_ratio"],
        )
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            answer = asyncio.run(server.judge_reward(payload))["rewards"]
        reward: dict[str, Any] = {k: float(answer[f"{k}_reward"]) for k in REWARDS}
        if "Failed to parse gold solution" in printed.getvalue():
            reward["gold_unparsed"] = True
        rewards.append(reward)
    return rewards


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a V-Triune checkout (holds reward_server/)")
    parser.add_argument("--commit", default="", help="its commit, recorded in the fixture")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    samples = orsta_samples()
    rewards = vtriune_rewards(args.checkout.resolve(), samples)
    fixture = {
        "vtriune_commit": args.commit,
        "det_iou_threshold": IOU_THRESHOLD,
        "samples": [{**s, "vtriune": r} for s, r in zip(samples, rewards, strict=True)],
    }
    args.out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    sys.stderr.write(f"{len(samples)} samples → {args.out}\n")


if __name__ == "__main__":
    main()
