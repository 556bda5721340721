"""Reward models served by model workers: Bradley–Terry RMs (text, image+text) and BMAS.

``config`` (the ``ModelSpec`` in ``RAAS_MODELS``) imports no torch; everything else needs the
``models`` extra (torch, transformers, pillow) and is imported only where a model is configured.
"""
