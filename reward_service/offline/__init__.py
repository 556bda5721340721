"""Offline scoring and data curation: ``raas score``, ``raas filter``, ``raas report``.

Datasets are scored through the same router (in-process pool, or a deployed raas over HTTP), so
curation uses the verdicts that training will get.

- ``tables``: rows streamed in from JSONL and Parquet; ``sinks``: written out, resumably.
- ``spec``: a dataset row → a ``/reward`` sample (raas's fields, V-Triune's ``reward_model``,
  or nothing but ``data_source`` for the server's routes).
- ``scoring``: ``raas score``: batches in flight, a 422 split per row, progress, resume;
  ``scorers``: the router in this process, or a deployed raas through the trainer client.
- ``rules``: V-Triune's rule-based filters; ``difficulty``: the pass-rate band over k rollouts
  (and V-Triune's IoU-sum band for perception prompts); each with a ``raas`` and a ``v-triune``
  preset. ``groups``: rollouts gathered per prompt, for ``difficulty`` and ``report``.
- ``report``: per-source Markdown and PNG plots of a scored (or filtered) file.
- ``commands``: the argparse side, importing nothing heavy until a command runs.

Everything but ``commands`` needs the ``offline`` extra (pyarrow, tqdm, matplotlib):
``pip install 'raas[offline]'``; :func:`require` says so instead of a traceback.
"""

from __future__ import annotations

import importlib.util

EXTRA_HINT = "pip install 'raas[offline]' (or make install)"


def require(command: str, *modules: str) -> None:
    """Exit with the install hint when ``modules`` are missing (``raas serve``'s install)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"raas {command} needs {', '.join(missing)}: {EXTRA_HINT}")
