"""Box parsing, validity, IoU and GIoU shared by the perception verifiers."""

from __future__ import annotations

import numpy as np
import pytest

from reward_service.contract.errors import InvalidInputError
from reward_service.verifiers._boxes import (
    as_box,
    find_box,
    find_point,
    giou,
    ground_truth_box,
    iou_matrix,
    parse_box_list,
    parse_corner_boxes,
)
from reward_service.verifiers._requote import requoted

DOG = "[{'bbox_2d': [0, 0, 100, 100], 'label': 'dog'}]"


class TestParseBoxList:
    @pytest.mark.parametrize(
        ("text", "coords", "labels"),
        [
            # V-Triune's own format: single quotes
            (DOG, [[0, 0, 100, 100]], ("dog",)),
            # plain JSON, floats
            ('[{"bbox_2d": [1.5, 2, 3, 4], "label": "a"}]', [[1.5, 2, 3, 4]], ("a",)),
            # truncated tail: the complete objects before the last "}," are kept
            (
                "[{'bbox_2d': [0,0,1,1], 'label': 'a'}, {'bbox_2d': [2,2,3,3], 'label': 'b'}, "
                "{'bbox_2d': [4,4",
                [[0, 0, 1, 1], [2, 2, 3, 3]],
                ("a", "b"),
            ),
            # "[[" / "]]" collapse: a doubly wrapped list still reads
            ("[[{'bbox_2d': [0,0,1,1], 'label': 'a'}]]", [[0, 0, 1, 1]], ("a",)),
            # an exact duplicate box is dropped, first label kept
            (
                "[{'bbox_2d': [0,0,1,1], 'label': 'a'}, {'bbox_2d': [0,0,1,1], 'label': 'b'}]",
                [[0, 0, 1, 1]],
                ("a",),
            ),
            # invalid items are skipped, valid ones kept
            (
                "[{'bbox_2d': [5,0,1,1], 'label': 'a'}, {'bbox_2d': [0,0,1,1], 'label': 'b'}]",
                [[0, 0, 1, 1]],
                ("b",),
            ),
            # labels are lower-cased
            ("[{'bbox_2d': [0,0,1,1], 'label': 'Dog'}]", [[0, 0, 1, 1]], ("dog",)),
            # backslashes are removed (escaped quotes)
            ('[{\\"bbox_2d\\": [0,0,1,1], \\"label\\": \\"a\\"}]', [[0, 0, 1, 1]], ("a",)),
        ],
    )
    def test_reads(self, text: str, coords: list[list[float]], labels: tuple[str, ...]) -> None:
        boxes = parse_box_list(text)
        assert boxes is not None
        assert boxes.coords.tolist() == coords
        assert boxes.labels == labels

    @pytest.mark.parametrize(
        "text",
        [
            "",  # empty answer
            "[]",  # empty list
            "```json\n" + DOG + "\n```",  # markdown fence breaks the parse (V-Triune)
            "[{'bbox_2d': [0,0,100], 'label': 'dog'}]",  # three coordinates
            "[{'bbox_2d': ['0','0','1','1'], 'label': 'dog'}]",  # strings are not numbers
            "[{'bbox_2d': [true,false,true,true], 'label': 'dog'}]",  # nor are booleans
            "[{'bbox_2d': [0,0,1,1]}]",  # no label
            "[{'bbox_2d': [0,0,1,1], 'label': 3}]",  # label not a string
            "[{'bbox_2d': [1,0,0,1], 'label': 'a'}]",  # x1 > x2
            "[{'bbox_2d': [0,0,1e400,1], 'label': 'a'}]",  # 1e400 reads as inf
            "[{'bbox_2d': [0,0,1e308,1e308], 'label': 'a'}]",  # area overflows float64
            "[{'bbox_2d': [0,0,NaN,1], 'label': 'a'}]",  # NaN literal
            "{'bbox_2d': [0,0,1,1], 'label': 'a'}",  # an object, not a list
            "[" * 100_000,  # deeply nested: RecursionError becomes "no boxes"
            "[{'bbox_2d': [0,0," + "9" * 5000 + ",1], 'label': 'a'}]",  # over int digit limit
        ],
    )
    def test_no_boxes(self, text: str) -> None:
        assert parse_box_list(text) is None


class TestValidity:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ([0, 0, 1, 1], (0.0, 0.0, 1.0, 1.0)),  # ints become floats
            ((0.5, 0, 0.5, 2), (0.5, 0.0, 0.5, 2.0)),  # zero width is a valid box
            ([0, 0, 1], None),  # three numbers
            ([0, 0, 1, "1"], None),  # a string
            ([0, 0, True, 1], None),  # a bool
            ([0, 0, float("inf"), 1], None),  # infinite
            ([0, 0, float("nan"), 1], None),  # NaN
            ([0, 0, 10**400, 1], None),  # integer beyond float range
            ([-1e308, 0, 1e308, 1], None),  # finite corners, infinite width
            ([0, 0, 1e200, 1e200], None),  # infinite area
            ([0, 1, 1, 0], None),  # y1 > y2
            ("0,0,1,1", None),  # not a list
        ],
    )
    def test_as_box(self, value: object, expected: tuple[float, ...] | None) -> None:
        assert as_box(value) == expected


class TestIou:
    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # identical
            ([0, 0, 10, 10], [0, 0, 10, 5], 0.5),  # half
            ([0, 0, 10, 10], [5, 5, 15, 15], 25 / 175),  # corner overlap
            ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edge: zero-area intersection
            ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),  # disjoint
            ([5, 0, 5, 10], [0, 0, 10, 10], 0.0),  # zero-width box
            ([5, 5, 5, 5], [5, 5, 5, 5], 0.0),  # two equal points: 0, not NaN
            ([0, 0, 1e150, 1e150], [0, 0, 1e150, 5e149], 0.5),  # areas near overflow
            ([0, 0, 1e-200, 1e-200], [0, 0, 1e-200, 5e-201], 0.5),  # areas that underflow
        ],
    )
    def test_pairs(self, a: list[float], b: list[float], expected: float) -> None:
        assert iou_matrix(np.array([a], float), np.array([b], float))[0, 0] == pytest.approx(
            expected, rel=1e-12
        )

    def test_matrix_shape_and_entries(self) -> None:
        # rows are predictions, columns GT boxes
        pred = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]], float)
        gt = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], float)
        assert iou_matrix(pred, gt).tolist() == [[1.0, 0.0], [0.5, 0.0], [0.0, 1.0]]

    def test_power_of_two_scaling_is_exact(self) -> None:
        # 0.86 is compared with τ = 0.85 bit for bit: scaling must not perturb it
        value = iou_matrix(np.array([[0, 0, 100, 86]], float), np.array([[0, 0, 100, 100]], float))
        assert value[0, 0] == 8600 / 10000


class TestGiou:
    @pytest.mark.parametrize(
        ("pred", "gt", "expected"),
        [
            ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
            ((0, 0, 10, 5), (0, 0, 10, 10), 0.5),  # nested: enclosing box is the union
            ((20, 0, 30, 10), (0, 0, 10, 10), -1 / 3),  # disjoint: penalised by the hull
            ((1e6, 1e6, 1e6 + 1, 1e6 + 1), (0, 0, 1, 1), -1 + 2 / (1e6 + 1) ** 2),  # far away
            ((5, 5, 5, 5), (0, 0, 10, 10), 0.0),  # a point inside: IoU 0, no hull penalty
            ((0, 0, 1e300, 1e-300), (0, 0, 1e-300, 1e300), -1.0),  # huge hull, no overflow
        ],
    )
    def test_values(
        self,
        pred: tuple[float, float, float, float],
        gt: tuple[float, float, float, float],
        expected: float,
    ) -> None:
        assert giou(pred, gt) == pytest.approx(expected, abs=1e-12)


class TestFind:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[1, 2, 3, 4]", (1, 2, 3, 4)),  # bare list
            ("(1,2,3,4)", (1, 2, 3, 4)),  # parentheses
            ('[{"bbox_2d": [1, 2, 3, 4], "label": "x"}]', (1, 2, 3, 4)),  # JSON object
            ("\\boxed{[1.5, -2, 3e1, 4]}", (1.5, -2, 30, 4)),  # boxed, signs, exponent
            ("\\boxed{1, 2, 3, 4}", (1, 2, 3, 4)),  # boxed without brackets
            ("<answer>[9,9,9,9]</answer> [1,2,3,4]", (9, 9, 9, 9)),  # the answer block wins
            ("[5,5,5,5] then \\boxed{[1,2,3,4]}", (1, 2, 3, 4)),  # the boxed answer wins
            ("<think>[5,5,5,5]</think> [1,2,3,4] [6,6,6,6]", (1, 2, 3, 4)),  # first after think
            ("```json\n[1, 2, 3, 4]\n```", (1, 2, 3, 4)),  # fences do not matter here
            ("[4, 3, 2, 1]", (4, 3, 2, 1)),  # found even when invalid: validity is separate
            ("[1, 2, 3]", None),  # three numbers
            ("[1, 2, 3, 4, 5]", None),  # five numbers
            # Qwen2-VL's corners, with or without its special tokens
            ("<|box_start|>(1,2),(3,4)<|box_end|>", (1, 2, 3, 4)),
            ("the dog (1, 2), (3, 4)", (1, 2, 3, 4)),
            ("[1,2],[3,4]", (1, 2, 3, 4)),
            ("(5,6),(7,8) [1,2,3,4]", (5, 6, 7, 8)),  # the first box, whichever form
            ("[1,2,3,4] (5,6),(7,8)", (1, 2, 3, 4)),
            ("(1,2) and (3,4)", None),  # two points apart are no box
            ("[nan, 0, 1, 1]", None),  # not a number
            ("no box here", None),
        ],
    )
    def test_find_box(self, text: str, expected: tuple[float, ...] | None) -> None:
        assert find_box(text) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[50, 60]", (50, 60)),  # bare
            ("(50.5, 60)", (50.5, 60)),  # tuple
            ('{"point_2d": [3, 4]}', (3, 4)),  # inside JSON
            ("<answer>(1, 2)</answer>", (1, 2)),  # answer block
            ("[1, 2, 3, 4]", None),  # a box is not a point
            ("(1,2),(3,4)", None),  # nor is a corner box: its first corner is not read
            ("<|box_start|>(1,2),(3,4)<|box_end|>", None),
            ("(1,2) then (3,4)", (1, 2)),  # two points apart: the first
            ("\\boxed{200, 200}", (200, 200)),  # a boxed bare pair, as iou's bare box
            ("<answer> 1.5,2 </answer>", (1.5, 2)),
            ("\\boxed{1, 2, 3}", None),
            ("the point is 1, 2", None),  # a bare pair only when it is the whole answer
            ("nothing", None),
        ],
    )
    def test_find_point(self, text: str, expected: tuple[float, float] | None) -> None:
        assert find_point(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "[" + "1" * 64_000,  # one endless number
            "[1," + " " * 64_000,  # endless spaces after a comma
            "[1, " * 16_000,  # many openings, none closed
            "(" * 64_000,  # nothing but openings
            "[1e" + "1" * 64_000,  # endless exponent
            "\\boxed{" * 9_000,  # unclosed boxes
        ],
    )
    def test_adversarial_text_holds_no_box(self, text: str) -> None:
        # the number pattern is unambiguous, so 64k characters take milliseconds, not hours
        # (measured in bench/bench_hostile.py)
        assert find_box(text) is None
        assert find_point(text) is None


class TestGroundTruthBox:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ([0, 0, 10, 10], (0, 0, 10, 10)),  # a list
            ({"bbox_2d": [0, 0, 10, 10], "label": "x"}, (0, 0, 10, 10)),  # an object
            ("[0, 0, 10, 10]", (0, 0, 10, 10)),  # a string
        ],
    )
    def test_accepted(self, value: object, expected: tuple[float, ...]) -> None:
        assert ground_truth_box(value, positive_area=True) == expected

    @pytest.mark.parametrize(
        "value",
        [
            [0, 0, 10],
            [10, 0, 0, 10],
            "no box",
            None,
            5,
            [0, 0, float("nan"), 1],
            {"box": [0, 0, 1, 1]},
        ],
    )
    def test_rejected(self, value: object) -> None:
        with pytest.raises(InvalidInputError):
            ground_truth_box(value, positive_area=False)

    def test_zero_area_only_when_asked(self) -> None:
        # point_in_box accepts a degenerate box, giou/iou do not
        assert ground_truth_box([5, 0, 5, 10], positive_area=False) == (5, 0, 5, 10)
        with pytest.raises(InvalidInputError, match="zero area"):
            ground_truth_box([5, 0, 5, 10], positive_area=True)


class TestNativeReaders:
    @pytest.mark.parametrize(
        ("text", "labels"),
        [
            # an apostrophe inside a single-quoted label: V-Triune's quote swap breaks it
            ("[{'bbox_2d': [0,0,1,1], 'label': 'person's bag'}]", ("person's bag",)),
            # Python's repr: double quotes around a label that holds an apostrophe
            ("[{'bbox_2d': [0,0,1,1], 'label': \"person's bag\"}]", ("person's bag",)),
            # a trailing apostrophe, then blanks before the closing brace
            ("[{'bbox_2d': [0,0,1,1], 'label': 'dogs'' }]", ("dogs'",)),
            # two objects, the apostrophe in the first
            (
                "[{'bbox_2d': [0,0,1,1], 'label': 'o'neil'}, {'bbox_2d': [2,2,3,3], 'label': 'b'}]",
                ("o'neil", "b"),
            ),
        ],
    )
    def test_apostrophes(self, text: str, labels: tuple[str, ...]) -> None:
        boxes = parse_box_list(text)
        assert boxes is not None
        assert boxes.labels == labels
        assert parse_box_list(text, vtriune=True) is None  # V-Triune's verdict, for /judge

    @pytest.mark.parametrize(
        "text",
        [
            DOG,
            '[{"bbox_2d": [0, 0, 1, 1], "label": "a"}]',
            "[{'bbox_2d': [0,0,1,1], 'label': 'a'}, {'bbox_2d': [4,4",
        ],
    )
    def test_vtriunes_reading_stands_where_it_parses(self, text: str) -> None:
        native, vtriune = parse_box_list(text), parse_box_list(text, vtriune=True)
        assert native is not None
        assert vtriune is not None
        assert native.labels == vtriune.labels
        assert native.coords.tolist() == vtriune.coords.tolist()

    @pytest.mark.parametrize(
        "text", ["(1,2)" + " " * 64_000 + "x", "(1,2)," * 10_000, "(1,2) " * 10_000]
    )
    def test_corner_reading_is_linear(self, text: str) -> None:
        # "\s*(?:,\s*)?" between the corners, not "\s*,?\s*": no quadratic backtracking
        find_box(text)
        find_point(text)
        parse_corner_boxes(text)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("['a', \"b's\"]", '["a", "b\'s"]'),
            ("{'k': 'it's'}", '{"k": "it\'s"}'),
            ("['unclosed]", None),
            ('["unclosed]', None),
            ("no quotes", "no quotes"),
        ],
    )
    def test_requoted(self, text: str, expected: str | None) -> None:
        assert requoted(text) == expected

    @pytest.mark.parametrize("text", ["'" * 64_000, "' " * 32_000, "'a\" " * 16_000])
    def test_requoting_is_linear(self, text: str) -> None:
        requoted(text)  # milliseconds: every character is looked at a bounded number of times

    @pytest.mark.parametrize(
        ("text", "coords", "labels"),
        [
            (
                "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>",
                [[1, 2, 3, 4]],
                ("dog",),
            ),
            # two boxes for one reference share its label; the next reference relabels
            (
                "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>"
                "<|box_start|>(5,5),(6,6)<|box_end|>"
                "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(7,7),(8,8)<|box_end|>",
                [[1, 2, 3, 4], [5, 5, 6, 6], [7, 7, 8, 8]],
                ("dog", "dog", "cat"),
            ),
            # decoded without special tokens: the text before each box labels it
            ("dog(1,2),(3,4), cat (5,5),(6,6)", [[1, 2, 3, 4], [5, 5, 6, 6]], ("dog", "cat")),
            # an invalid box (corners swapped) is dropped
            ("dog(3,4),(1,2) cat(5,5),(6,6)", [[5, 5, 6, 6]], ("cat",)),
        ],
    )
    def test_corner_boxes(
        self, text: str, coords: list[list[float]], labels: tuple[str, ...]
    ) -> None:
        boxes = parse_corner_boxes(text)
        assert boxes is not None
        assert boxes.coords.tolist() == coords
        assert boxes.labels == labels

    def test_no_corner_box(self) -> None:
        assert parse_corner_boxes("dog [1, 2, 3, 4]") is None
        assert parse_corner_boxes("dog (3,4),(1,2)") is None
