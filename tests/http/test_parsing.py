"""A body parsed in pieces is the request a whole parse gives, or the same errors."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from reward_service.contract.errors import RequestError, validation_errors
from reward_service.contract.schemas import RewardRequest
from reward_service.http.parsing import in_pieces, parse_in_pieces, parse_request

PIECE = 256  # bytes: a few samples a piece, so that every body below is cut many times
HOSTILE = [
    '}, {"id": 1, "response": "x"}',  # a cut candidate inside a string
    '\\"}, {\\"id\\": ',
    '"samples": [{"id": 0}]',
    "\\}, {",
    "\u00e9\u4e2d\U0001f600 ] ] }",
]


def sample(rng: random.Random, i: int, nested: bool) -> dict[str, Any]:
    """A sample in a fixed key order (as clients write them) with hostile strings; ``nested``:
    with lists of objects that start with the sample's own first key (cuts inside a sample)."""
    reasoning = " ".join(rng.choices(["so", "\\frac{1}{2}", "wait", '"q"', "\n"], k=40))
    key = "id" if nested else "k"
    return {
        "id": i if i % 3 else f"s{i}",
        "data_source": rng.choice(["math", "det"]),
        "response": f"<think>{reasoning} {rng.choice(HOSTILE)}</think>\\boxed{{{i}}}",
        "ground_truth": [{key: k, "box": [k, k, k + 1, k + 1]} for k in range(rng.randint(0, 3))],
        "verifier": "math",
        "params": {"tolerance": 0.01},
        "meta": {"turns": [{key: 0, "role": "user"}, {key: 1, "role": "assistant"}]},
    }


def samples(n: int, seed: int = 0, nested: float = 0.0) -> list[dict[str, Any]]:
    """``nested``: the share of samples with objects inside that start like a sample."""
    rng = random.Random(seed)
    return [sample(rng, i, rng.random() < nested) for i in range(n)]


def outcome(parse: Callable[[], Any]) -> Any:
    try:
        return parse().model_dump()
    except RequestError as exc:
        return exc.errors


def both(body: bytes | bytearray) -> tuple[Any, Any]:
    whole = outcome(lambda: parse_request(body))
    pieces = outcome(lambda: asyncio.run(parse_in_pieces(body, PIECE)))
    return whole, pieces


VALID = {
    "compact": orjson.dumps({"samples": samples(60), "step": 3, "total_steps": 10}),
    "json.dumps spacing": json.dumps(
        {"samples": samples(60), "step": 3}, ensure_ascii=False
    ).encode(),
    "indented": json.dumps({"total_steps": 9, "samples": samples(60)}, indent=2).encode(),
    "CRLF and tabs": orjson.dumps({"samples": samples(60)}).replace(b"},{", b"}\r\n\t,\r\n{"),
    "unicode escaped": json.dumps({"samples": samples(60)}, ensure_ascii=True).encode(),
    "step before": orjson.dumps({"step": 1, "samples": samples(60)}),
}


@pytest.mark.parametrize("name", VALID)
def test_a_valid_body_is_cut_into_pieces_and_parses_to_the_whole_parse(name: str) -> None:
    body = VALID[name]
    whole, pieces = both(body)
    assert pieces == whole
    assert len(whole["samples"]) == 60
    assert asyncio.run(in_pieces(bytearray(body), PIECE)) is not None  # no fallback


def test_the_event_loop_runs_between_pieces() -> None:
    body = orjson.dumps({"samples": samples(400)})

    async def turns_while_parsing() -> int:
        turns = 0
        done = False

        async def count() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.ensure_future(count())
        await asyncio.sleep(0)
        await parse_in_pieces(body, len(body) // 20)
        done = True
        await counter
        return turns

    assert asyncio.run(turns_while_parsing()) >= 19


def test_a_few_cuts_inside_samples_are_moved_on_to_the_next_sample() -> None:
    body = orjson.dumps({"samples": samples(60, nested=0.1)})
    assert b'[{"id":0' in body  # a cut candidate inside a sample
    whole, pieces = both(body)
    assert pieces == whole
    assert asyncio.run(in_pieces(body, PIECE)) is not None


def test_a_body_full_of_cuts_inside_samples_is_parsed_whole() -> None:
    body = orjson.dumps({"samples": samples(200, nested=1.0)})
    whole, pieces = both(body)
    assert pieces == whole
    assert asyncio.run(in_pieces(body, PIECE)) is None  # too many miscuts: one parse instead


def test_samples_whose_key_order_changes_are_parsed_too() -> None:
    rows = samples(60)
    rows[30:] = [dict(reversed(list(row.items()))) for row in rows[30:]]
    body = orjson.dumps({"samples": rows})
    whole, pieces = both(body)
    assert pieces == whole
    assert [s["id"] for s in whole["samples"]] == [r["id"] for r in rows]


def _replace_sample(index: int, value: Any) -> bytes:
    rows: list[Any] = samples(60)
    rows[index] = value
    return orjson.dumps({"samples": rows})


INVALID = {
    "a response that is a number": _replace_sample(37, {"response": 5, "verifier": "math"}),
    "an unknown field": _replace_sample(41, {"response": "x", "color": "red"}),
    "a sample that is not an object": _replace_sample(50, [1, 2]),
    "a bad weight": _replace_sample(59, {"response": "x", "weights": {"accuracy": -1}}),
    "truncated": orjson.dumps({"samples": samples(60)})[:-40],
    "trailing garbage": orjson.dumps({"samples": samples(60)}) + b" x",
    "form feed between samples": b'{"samples": [%s\f,%s]}'
    % (
        b",".join(orjson.dumps(row) for row in samples(60)[:30]),
        b",".join(orjson.dumps(row) for row in samples(60)[30:]),
    ),
    "an extra top-level field": orjson.dumps({"samples": samples(60), "extra": [1]}),
    "a step out of range": orjson.dumps({"samples": samples(60), "step": -1}),
    "samples not a list": orjson.dumps({"samples": {"a": samples(60)}}),
    "top level a list": orjson.dumps([{"samples": samples(60)}]),
}


@pytest.mark.parametrize("name", INVALID)
def test_an_invalid_body_gets_the_whole_parses_errors(name: str) -> None:
    whole, pieces = both(INVALID[name])
    assert isinstance(whole, list)
    assert pieces == whole


DUPLICATES = {
    "samples twice, the second wins": b'{"samples": %s, "samples": %s}',
    "escaped key twice": b'{"samples": %s, "s\\u0061mples": %s}',
}


@pytest.mark.parametrize("name", DUPLICATES)
def test_a_duplicate_samples_key_is_read_as_a_whole_parse_reads_it(name: str) -> None:
    first, second = orjson.dumps(samples(40, seed=1)), orjson.dumps(samples(30, seed=2))
    body = DUPLICATES[name] % (first, second)
    whole, pieces = both(body)
    assert pieces == whole
    assert len(whole["samples"]) == 30


@pytest.mark.parametrize("seed", range(40))
def test_random_bodies_parse_alike(seed: int) -> None:
    rng = random.Random(seed)
    rows: list[Any] = samples(rng.randint(1, 80), seed, nested=rng.random())
    if rng.random() < 0.3:
        rows[rng.randrange(len(rows))]["response"] = rng.choice([1, None, "ok"])
    body = json.dumps({"samples": rows}, indent=rng.choice([None, 1])).encode()
    if rng.random() < 0.2:
        cut = rng.randrange(len(body))
        body = body[:cut] + body[cut + 1 :]  # a byte lost anywhere
    whole, pieces = both(body)
    assert pieces == whole


def test_a_small_body_is_parsed_whole() -> None:
    body = orjson.dumps({"samples": samples(2)})
    assert asyncio.run(parse_in_pieces(body)) == parse_request(body)


def one_pass(body: bytes) -> Any:
    """What ``model_validate_json`` alone makes of a body (the parse ``parse_request`` speeds up),
    invalid JSON located at the body as ``parse_request`` locates it."""
    try:
        return RewardRequest.model_validate_json(body).model_dump()
    except ValidationError as exc:
        errors = validation_errors(exc)
        return [{**e, "loc": ["body"]} if e["type"] == "json_invalid" else e for e in errors]


EDGES = {
    "NaN ground truth": b'{"samples":[{"response":"x","ground_truth":NaN}]}',
    "Infinity in meta": b'{"samples":[{"response":"x","meta":{"k":[1,{"a":-Infinity}]}}]}',
    "float past double": b'{"samples":[{"response":"x","ground_truth":1e400}]}',
    "integer past 64 bits": b'{"samples":[{"response":"x","ground_truth":%d}]}' % 10**30,
    "id past 64 bits": b'{"samples":[{"response":"x","id":99999999999999999999999}]}',
    "integral float id": b'{"samples":[{"response":"x","id":1.0}]}',
    "fractional id": b'{"samples":[{"response":"x","id":1.5}]}',
    "lone surrogate": b'{"samples":[{"response":"\\ud800 x","ground_truth":"\\udfff"}]}',
    "NUL escaped": b'{"samples":[{"response":"a\\u0000b"}]}',
    "repeated key": b'{"samples":[{"response":"a","response":"b"}]}',
    "invalid UTF-8": b'{"samples":[{"response":"\xff"}]}',
    "raw control character": b'{"samples":[{"response":"a\x01b"}]}',
    "response a number": b'{"samples":[{"response":1}]}',
    "truncated a bool": b'{"samples":[{"response":"a","truncated":1}]}',
    "weights a list": b'{"samples":[{"response":"a","weights":[1]}]}',
    "weights a string": b'{"samples":[{"response":"a","weights":{"accuracy":"1"}}]}',
    "images a string": b'{"samples":[{"response":"a","images":"x"}]}',
    "step a string": b'{"samples":[{"response":"a"}],"step":"3"}',
    "step a float": b'{"samples":[{"response":"a"}],"step":3.0}',
    "samples an object": b'{"samples":{}}',
    "a list": b"[1]",
    "null": b"null",
    "trailing text": b'{"samples":[{"response":"a"}]} x',
    "long reasoning": orjson.dumps({"samples": samples(30, seed=5)}),
}


@pytest.mark.parametrize("name", EDGES)
def test_the_two_step_parse_answers_as_one_pass_does(name: str) -> None:
    """``from_json`` + validation is faster on long responses; value and errors (with JSON's
    wording: "a valid array", "an object") stay those of ``model_validate_json`` (compared as
    text: NaN is not equal to itself)."""
    assert repr(outcome(lambda: parse_request(EDGES[name]))) == repr(one_pass(EDGES[name]))
