"""``bmas``: REWARD_SPEC's definition, against an independent numpy computation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from transformers import AutoModel, AutoTokenizer

from reward_service.contract.errors import InvalidInputError
from reward_service.models.bmas import BMASScorer
from reward_service.verifiers._text import HEDGE, TRUNCATED
from reward_service.verifiers.model.bmas import bmas_value
from tests.models.conftest import Tiny
from tests.models.helpers import bmas_task, reward, spec


@pytest.fixture(scope="module")
def scorer(tiny: Tiny) -> BMASScorer:
    return BMASScorer.load(spec("b", tiny.llama, "bmas"))


def scored(scorer: BMASScorer, response: str, reference: Any, **params: Any) -> Any:
    task = bmas_task("b", response, reference, **params)
    return reward(scorer, task, scorer.forward([scorer.prepare(task)])[0])


def score(scorer: BMASScorer, response: str, reference: Any, **params: Any) -> float:
    return float(scored(scorer, response, reference, **params).accuracy)


def numpy_bmas(path: Any, response: str, reference: str) -> tuple[float, float]:
    """P and R straight from the definition: loops over tokens, cosine from the raw table."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    table = AutoModel.from_pretrained(path).get_input_embeddings().weight.detach().numpy()
    special = set(tokenizer.all_special_ids)

    def ids(text: str) -> list[int]:
        return [
            i for i in tokenizer(text, add_special_tokens=False)["input_ids"] if i not in special
        ]

    def sim(i: int, j: int) -> float:
        if i == j:
            return 1.0
        a, b = table[i].astype(np.float64), table[j].astype(np.float64)
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    r, g = ids(response), ids(reference)
    precision = np.mean([max(sim(i, j) for j in g) for i in r])
    recall = np.mean([max(sim(i, j) for i in r) for j in g])
    return float(precision), float(recall)


class TestDefinition:
    @pytest.mark.parametrize("combine", ["mean", "f1"])
    @pytest.mark.parametrize("clamp", ["zero", "affine"])
    def test_identical_texts_score_one(self, scorer: BMASScorer, combine: str, clamp: str) -> None:
        text = "the quick brown fox jumps over the lazy dog"
        assert score(scorer, text, text, combine=combine, clamp=clamp) == 1.0

    @pytest.mark.parametrize("clamp", ["zero", "affine"])
    @pytest.mark.parametrize(
        ("response", "reference"),
        [("", "the cat"), ("the cat", ""), ("   ", "the cat"), ("<s> </s>", "the cat")],
    )
    def test_an_empty_side_scores_zero(
        self, scorer: BMASScorer, response: str, reference: str, clamp: str
    ) -> None:
        assert score(scorer, response, reference, clamp=clamp) == 0.0

    def test_precision_and_recall_match_a_numpy_computation(
        self, tiny: Tiny, scorer: BMASScorer
    ) -> None:
        response, reference = "a cat sat on the mat .", "the quick brown fox jumps over the cat"
        task = bmas_task("b", response, reference)
        p, r = scorer.forward([scorer.prepare(task)])[0] or (None, None)
        expected_p, expected_r = numpy_bmas(tiny.llama, response, reference)
        assert (p, r) == pytest.approx((expected_p, expected_r), abs=1e-6)
        assert p != pytest.approx(r)  # a pair where the two directions differ
        details = reward(scorer, task, (p, r)).details
        assert details == {"precision": p, "recall": r}

    def test_special_tokens_are_removed(self, scorer: BMASScorer) -> None:
        plain = score(scorer, "the cat sat", "a cat on the mat")
        assert score(scorer, "<s> the cat sat </s>", "a cat on the mat") == plain

    def test_batched_equals_alone(self, scorer: BMASScorer) -> None:
        tasks = [bmas_task("b", r, g) for r, g in [("a cat", "the cat"), ("dog", "lazy dog .")]]
        items = [scorer.prepare(t) for t in tasks]
        assert scorer.forward(items) == [scorer.forward([i])[0] for i in items]

    def test_the_reference_must_be_text(self, scorer: BMASScorer) -> None:
        with pytest.raises(InvalidInputError, match="string"):
            scorer.prepare(bmas_task("b", "a cat", ["a", "cat"]))


REFERENCE = "a cat sat on the mat and the dog jumps over the lazy fox"
THINKING = "hm , the quick brown fox . " * 200  # kB of reasoning, words the reference shares


class TestFinalAnswer:
    """REWARD_SPEC: BMAS embeds the final answer, never the thinking or the tags."""

    @pytest.mark.parametrize("combine", ["mean", "f1"])
    @pytest.mark.parametrize(
        "response",
        [
            f"<think>\n{THINKING}\n</think>\n<answer>\n{REFERENCE}\n</answer>",  # Mixed-R1's
            f"<think>{THINKING}</think>{REFERENCE}",
            f"{THINKING}</think>\n\n{REFERENCE}",  # a template that opened the thinking
            f"<answer>{REFERENCE}</answer>",
            f"<answer>\\boxed{{{REFERENCE}}}</answer>",
            f"{REFERENCE}<|im_end|>",
            REFERENCE,
        ],
    )
    def test_an_answer_identical_to_the_reference_scores_one(
        self, scorer: BMASScorer, response: str, combine: str
    ) -> None:
        assert score(scorer, response, REFERENCE, combine=combine) == 1.0

    def test_the_thinking_is_never_read(self, scorer: BMASScorer) -> None:
        """The reference in the thinking earns nothing: the answer alone is scored."""
        answer = "dog"
        alone = score(scorer, answer, REFERENCE)
        hidden = f"<think>\n{REFERENCE}\n</think>\n<answer>\n{answer}\n</answer>"
        assert score(scorer, hidden, REFERENCE) == alone
        assert alone < 0.9

    @pytest.mark.parametrize(
        ("response", "reason"),
        [
            (f"<think>\n{THINKING} {REFERENCE}", TRUNCATED),  # cut off while thinking
            (f"<answer>{REFERENCE}</answer> <answer>a dog</answer>", HEDGE),
            (f"<answer>\\boxed{{{REFERENCE}}} or \\boxed{{a dog}}</answer>", HEDGE),
        ],
    )
    def test_no_final_answer_scores_zero_and_says_why(
        self, scorer: BMASScorer, response: str, reason: str
    ) -> None:
        result = scored(scorer, response, REFERENCE)
        assert (result.accuracy, result.details) == (0.0, {"reason": reason})

    def test_unanswered_and_answered_share_a_batch(self, scorer: BMASScorer) -> None:
        tasks = [bmas_task("b", r, REFERENCE) for r in ("<think>\ncut", REFERENCE, "a dog")]
        raws = scorer.forward([scorer.prepare(t) for t in tasks])
        assert raws[0] == TRUNCATED
        assert raws[1:] == [scorer.forward([scorer.prepare(t)])[0] for t in tasks[1:]]


@pytest.mark.parametrize(
    ("p", "r", "combine", "clamp", "expected"),
    [
        (0.5, -0.3, "mean", "zero", 0.1),  # clamp after combining (REWARD_SPEC order)
        (0.5, -0.3, "mean", "affine", 0.55),
        (-0.5, -0.3, "mean", "zero", 0.0),
        (0.5, -0.3, "f1", "zero", 0.0),  # harmonic mean of clamped P and R
        (0.5, -0.3, "f1", "affine", 2 * 0.75 * 0.35 / 1.1),
        (0.8, 0.4, "f1", "zero", 2 * 0.8 * 0.4 / 1.2),
        (1.0000001, 1.0, "mean", "zero", 1.0),  # float error never leaves [0, 1]
    ],
)
def test_combine_and_clamp(p: float, r: float, combine: Any, clamp: Any, expected: float) -> None:
    assert bmas_value(p, r, combine, clamp) == pytest.approx(expected, abs=1e-12)
