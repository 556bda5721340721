"""The sandboxed rule pool: spawned children with hard deadlines, and the backend around it.

``pool`` (the parent: scheduling, deadlines, kills) · ``run`` (a chunk on a child, process
exits) · ``fair_queue`` (least-served-first lines,
chunk bounds) · ``channel`` (the parent's non-blocking framed pipe) · ``child`` (what a child
process runs) · ``execute`` (one task → one outcome, in a child) · ``backend`` (the router's
``Backend`` over the pool).

``tokens``: response length in tokens for the source summary (``RAAS_TOKENIZER``),
counted in the children.
"""
