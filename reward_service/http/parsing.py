"""``/reward`` bodies → :class:`RewardRequest`, without holding the event loop for long.

Bytes become Python values with ``pydantic_core.from_json`` and are then validated: on the long
chains of thought of RL traffic that is 1.75 times faster than ``model_validate_json`` in one
pass (7.6 against 13.4 µs for a 9 kB sample; equal on short ones), and twice as fast as
``orjson.loads`` followed by ``model_validate`` (``bench/bench_parse.py``). Both give the same
value for every body both accept (NaN, integers past 64 bits, lone surrogates, repeated keys
included); a body either step refuses is parsed again with ``model_validate_json``, so errors
keep JSON's wording ("a valid array", not "a valid list"). Parsing holds the GIL throughout: a
thread does not help, and a body parsed in one call stops the event loop for the whole parse,
0.5 s for 261 MB and 1.4 s for 774 MB (``bench/bench_big_body.py``). Health probes and every
other trainer's request wait meanwhile.

:func:`parse_in_pieces` parses a large body a few MiB at a time and lets the loop run in
between. It cuts the ``samples`` array where one element seems to end and the next to begin
(``}, {"<first key of sample 0>":``) and parses each piece as a JSON array of samples. A cut
in the wrong place (inside a sample, or inside a string) always leaves a piece that is not
valid JSON, since every piece starts where an element truly starts: such a cut is moved on to
the next candidate. What is left once the array ends (``step``, ``total_steps``) is parsed
with the array's opening. When every piece parses, the request is exactly the one a whole
parse gives; when anything does not (an invalid sample, an odd layout, duplicate keys, more
than ``_MAX_MISCUTS`` cuts inside samples), the whole body is parsed in one call, so errors and
their locations never differ. The longest stall falls to 0.04 s (261 MB) and 0.06 s (774 MB). A
sample is never cut: the largest one bounds the stall (0.3 s for a 100 MB response). Cuts follow
the first sample's first key; samples whose keys come in another order are parsed as one piece.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from reward_service.contract.errors import RequestError, validation_errors
from reward_service.contract.schemas import RewardRequest, Sample

PIECE_BYTES = 4 * 1024 * 1024  # about 10 ms of parsing
_WS = rb"[ \t\n\r]*"  # JSON's whitespace; re's \s would also take \f and \v
_HEAD = re.compile(rb'"samples"' + _WS + rb":" + _WS + rb"\[" + _WS)
_HEAD_WITHIN = 256  # only step and total_steps (integers) may come before "samples"
_FIRST_KEY = re.compile(rb"\{" + _WS + rb'("(?:[^"\\]|\\.){1,128}")' + _WS + rb":")
_OVERLAP = 512  # windows searched for a cut overlap by more than a cut's length
_MAX_MISCUTS = 32  # per body: cuts inside samples (each parses a piece for nothing)
_SAMPLES: TypeAdapter[list[Sample]] = TypeAdapter(list[Sample])
_REQUEST: TypeAdapter[RewardRequest] = TypeAdapter(RewardRequest)
T = TypeVar("T")


def validated(adapter: TypeAdapter[T], text: bytes | bytearray) -> T:
    """``adapter.validate_json(text)``'s value, parsed first with ``from_json`` (the faster way on
    long strings); :class:`ValidationError` from ``validate_json`` itself when either step fails."""
    try:
        return _two_steps(adapter, text)
    except ValueError:  # either step (a ValidationError is a ValueError): one pass says why
        return adapter.validate_json(text)


def _two_steps(adapter: TypeAdapter[T], text: bytes | bytearray) -> T:
    """``from_json`` then validation: :class:`ValidationError` for a value the adapter refuses,
    another ``ValueError`` for text that is not JSON. Keys only go through ``from_json``'s string
    cache: a batch repeats a dozen keys thousands of times, while its values are mostly distinct
    (responses, ids), and looking each up in the cache costs more than it saves (measured with
    ``bench/bench_parse.py``)."""
    value: Any = from_json(text, cache_strings="keys")
    return adapter.validate_python(value)


def parse_request(body: bytes | bytearray) -> RewardRequest:
    """Bytes → request in one call, or :class:`RequestError` naming what is wrong and where."""
    try:
        return validated(_REQUEST, body)
    except ValidationError as exc:
        errors = validation_errors(exc)
        if errors and errors[0]["type"] == "json_invalid":
            errors = [{**errors[0], "loc": ["body"]}]
        raise RequestError(errors) from None


async def parse_in_pieces(body: bytes | bytearray, piece_bytes: int = PIECE_BYTES) -> RewardRequest:
    """:func:`parse_request`'s answer, giving the event loop a turn every ``piece_bytes``."""
    if len(body) > piece_bytes:
        request = await in_pieces(body, piece_bytes)
        if request is not None:
            return request
    return parse_request(body)


async def in_pieces(body: bytes | bytearray, piece_bytes: int) -> RewardRequest | None:
    """The request parsed a piece at a time, or ``None`` where it must be parsed whole."""
    head = _HEAD.search(body, 0, _HEAD_WITHIN)
    end = body.rfind(b"]")  # after the array come integers only
    first_key = _FIRST_KEY.match(body, head.end()) if head else None
    if head is None or first_key is None or end < head.end():
        return None
    cut = re.compile(rb"\}" + _WS + rb"," + _WS + rb"(?=\{" + _WS + re.escape(first_key[1]) + rb")")
    samples: list[Sample] = []
    start, after, miscuts = head.end(), head.end() + piece_bytes, 0
    while after < end:
        found = cut.search(body, after, min(end, after + piece_bytes + _OVERLAP))
        if found is None:
            after += piece_bytes  # a long sample: keep looking, a window at a time
        else:
            try:
                piece = _two_steps(_SAMPLES, _array(body, start, found.start() + 1))
                samples += piece
                start, after = found.end(), found.end() + piece_bytes
            except ValidationError:
                return None  # a real error: the whole parse reports it
            except ValueError:  # not JSON: the cut fell inside a sample
                miscuts += 1
                if miscuts > _MAX_MISCUTS:
                    return None
                after = found.end()  # the next candidate
        await asyncio.sleep(0)
    last = _samples(_array(body, start, end))
    envelope = _envelope(body[: head.end()] + body[end:])
    if last is None or envelope is None:
        return None
    return envelope.model_copy(update={"samples": samples + last})


def _array(body: bytes | bytearray, start: int, end: int) -> bytes:
    """``[`` + ``body[start:end]`` + ``]``, copying the middle once."""
    return b"".join((b"[", memoryview(body)[start:end], b"]"))


def _samples(array: bytes) -> list[Sample] | None:
    try:
        return _two_steps(_SAMPLES, array)
    except ValueError:
        return None


def _envelope(text: bytes | bytearray) -> RewardRequest | None:
    """The request around an empty ``samples`` (no ``]`` follows the array's: none can hold
    a second ``samples``)."""
    try:
        return _two_steps(_REQUEST, text)
    except ValueError:
        return None
