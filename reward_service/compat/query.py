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


def _after_run(query: str, q: int, prompt: str, p: int) -> tuple[int, int] | None:
    """The ends of the special-token runs at ``q`` in the query and ``p`` in the prompt, if the
    query's holds the prompt's in order; where the prompt's run ends the prompt, the query's is
    read up to the last of its tokens and that token's repeats. One pass, no copies: a query
    may hold a run of millions of tokens."""
    want, last = _SPECIAL.match(prompt, p), ""
    while token := _SPECIAL.match(query, q):
        if want is not None and token.group() == want.group():
            last, p = want.group(), want.end()
            want = _SPECIAL.match(prompt, p)
        elif want is None and p == len(prompt) and token.group() != last:
            break  # the response's
        q = token.end()
    return None if want is not None else (q, p)


def response_start(query: str, prompt: str) -> int | None:
    """The index in ``query`` where the response begins, ``None`` if ``prompt`` is not there."""
    p = q = 0
    while p < len(prompt):
        if _SPECIAL.match(prompt, p):
            ends = _after_run(query, q, prompt, p)
            if ends is None:
                return None
            q, p = ends
            continue
        special = _SPECIAL.search(prompt, p)
        end = special.start() if special else len(prompt)
        if not query.startswith(prompt[p:end], q):
            return None
        q, p = q + end - p, end
    return q


def without_end_of_turn(response: str) -> str:
    """``response`` less the end-of-turn tokens it ends with (and the whitespace among them)."""
    end = len(response)  # moved back, not sliced: a response of many such tokens stays linear
    while match := _END_OF_TURN.search(response, max(0, end - _END_WINDOW), end):
        end = match.start()
    return response[:end]


def response_of(query: str, prompt: str | None) -> str | None:
    """The model's response in ``query``: what follows ``prompt`` (all of it when no prompt is
    given), without its end-of-turn tokens; ``None`` when the prompt is not found there."""
    start = response_start(query, prompt) if prompt else 0
    return None if start is None else without_end_of_turn(query[start:])
