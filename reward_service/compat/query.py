"""Where the response begins in a query OpenRLHF sends: its prompt and response, decoded.

OpenRLHF 0.11.2 (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``) posts, per sample,
``query`` = ``decode(prompt tokens + response tokens, skip_special_tokens=False)`` and
``prompts`` = the prompt text it tokenised. The query is not that prompt followed by the
response:
- a vision processor expands each image placeholder of the prompt into the image's tokens
  (Qwen: ``<|vision_start|><|image_pad|><|vision_end|>`` → one ``<|image_pad|>`` per merged
  patch; Gemma 4: its image token → begin-of-image, the image token × N, end-of-image);
- the response ends with the end-of-turn token the model emitted (``<|im_end|>``, maybe
  followed by ``<|endoftext|>``), which the decode keeps.

So the prompt is matched against the query piece by piece: its text exactly, and each run of
special tokens (adjacent ``<…>`` words: ``<|im_start|>``, ``<image>``, ``<|image|>``) against
the query's run of special tokens at that point, which must hold the prompt's run in order — a
processor adds special tokens around and among the placeholders, never text. A run that ends
the prompt is matched only up to its last token and that token's repeats (what follows is the
response's). The response is the rest, less trailing end-of-turn tokens (``<|…|>``, ``<|…>``,
``<…|>``, ``</s>``, ``<eos>``, ``<end_of_turn>``, ``<pad>``) and the whitespace between them.

``None`` when the prompt is not there: OpenRLHF cut a long text prompt from the left to fit
``--data.max_len``, or the tokenizer does not decode it back as it was written. The caller says
so for that sample; scoring the whole query would read the prompt's instructions and examples
as the model's answer.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"<\|?/?[A-Za-z_][\w.:/-]{0,63}\|?>")
_END_OF_TURN = re.compile(
    r"(?:<\|[^<>\s|]{1,64}\|>|<\|[^<>\s|]{1,64}>|<[^<>\s|]{1,64}\|>|</s>|<eos>|<end_of_turn>"
    r"|<pad>)\s*\Z"
)
_END_WINDOW = 96  # an end-of-turn token and the whitespace after it are shorter than this

Piece = str | list[str]  # text, or a run of adjacent special tokens


def prompt_pieces(prompt: str) -> list[Piece]:
    """``prompt`` as alternating text and runs of adjacent special tokens."""
    pieces: list[Piece] = []
    end = 0
    for match in _SPECIAL.finditer(prompt):
        if match.start() > end:
            pieces.append(prompt[end : match.start()])
        last = pieces[-1] if pieces else None
        if isinstance(last, list) and match.start() == end:
            last.append(match.group())
        else:
            pieces.append([match.group()])
        end = match.end()
    if end < len(prompt):
        pieces.append(prompt[end:])
    return pieces


def _run_at(query: str, at: int) -> list[re.Match[str]]:
    run = []
    while match := _SPECIAL.match(query, at):
        run.append(match)
        at = match.end()
    return run


def _after_run(query: str, at: int, wanted: list[str], final: bool) -> int | None:
    """Where the query's special-token run at ``at`` ends, if it holds ``wanted`` in order; for
    the prompt's final piece, after the last wanted token and its repeats."""
    run, found = _run_at(query, at), 0
    for index, match in enumerate(run):
        if found < len(wanted) and match.group() == wanted[found]:
            found += 1
            if found == len(wanted) and final:
                while index + 1 < len(run) and run[index + 1].group() == match.group():
                    index += 1
                return run[index].end()
    return run[-1].end() if run and found == len(wanted) else None


def response_start(query: str, prompt: str) -> int | None:
    """The index in ``query`` where the response begins, ``None`` if ``prompt`` is not there."""
    pieces, at = prompt_pieces(prompt), 0
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            if not query.startswith(piece, at):
                return None
            at += len(piece)
        else:
            found = _after_run(query, at, piece, final=index == len(pieces) - 1)
            if found is None:
                return None
            at = found
    return at


def without_end_of_turn(response: str) -> str:
    """``response`` less the end-of-turn tokens it ends with (and the whitespace among them)."""
    while match := _END_OF_TURN.search(response, max(0, len(response) - _END_WINDOW)):
        response = response[: match.start()]
    return response


def response_of(query: str, prompt: str | None) -> str | None:
    """The model's response in ``query``: what follows ``prompt`` (all of it when no prompt is
    given), without its end-of-turn tokens; ``None`` when the prompt is not found there."""
    start = response_start(query, prompt) if prompt else 0
    return None if start is None else without_end_of_turn(query[start:])
