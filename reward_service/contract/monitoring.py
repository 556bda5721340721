"""What a sample's scorer measures for the source summary, beside its reward: whether the
response reflects (both modes' words), and the names of the perception values verifiers report.

Read where samples are scored (pool children, verifiers) and where the summary is built
(:mod:`reward_service.routing.summary`, the router): a module of its own, so the pool and the
verifiers depend on these rules, not on the router's summary.
"""

from __future__ import annotations

REFLECTION_WORDS = (
    "re-check",
    "recheck",
    "re-evaluate",
    "reevaluate",
    "reevaluation",
    "re-examine",
    "reexamine",
    "re-think",
    "rethink",
    "check again",
    "think again",
    "try again",
    "double-check",
    "double check",
    "verify",
    "wait",
)
VTRIUNE_REFLECTION_WORDS = (
    "re-check",
    "re-evaluate",
    "re-examine",
    "re-think",
    "recheck",
    "reevaluate",
    "reexamine",
    "reevaluation",
    "rethink",
    "check again",
    "think again",
    "try again",
    "verify",
    "wait",
    "yet",
)
IOU_REPORT = ((0.5, "50"), (0.75, "75"), (0.95, "95"), (0.99, "99"))  # V-Triune's report_iou_*
IOU_REPORT_KINDS = ("iou", "precision", "recall")
IOU_REPORT_KEYS = tuple(f"{kind}{tag}" for _, tag in IOU_REPORT for kind in IOU_REPORT_KINDS)
PERCEPTION = ("iou", "map", "map50", "threshold", *IOU_REPORT_KEYS)


def reflects(response: str) -> bool:
    """Whether a reflection word occurs as a whole word (``wait`` but not ``awaiting``).

    ``str.find`` per word, boundaries checked only at hits: several times faster than one
    alternation regex.
    """
    return _whole_word(response.lower())


def reflections(response: str) -> tuple[bool, bool]:
    """Both modes' answers (``raas``, ``vtriune``) from one lower-casing of the response."""
    text = response.lower()
    return _whole_word(text), any(word in text for word in VTRIUNE_REFLECTION_WORDS)


def _whole_word(text: str) -> bool:
    for word in REFLECTION_WORDS:
        at = text.find(word)
        while at >= 0:
            end = at + len(word)
            if (at == 0 or not _word_char(text[at - 1])) and (
                end == len(text) or not _word_char(text[end])
            ):
                return True
            at = text.find(word, at + 1)
    return False


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"
