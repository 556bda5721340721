"""Other trainers' reward protocols on the native router: OpenRLHF's ``/get_reward``
(``openrlhf``), V-Triune's ``/judge`` (``vtriune``), slime's ``remote_rm`` (``slime``) and NeMo
Gym's resources server (``nemo_gym``), mounted by ``routes``; their knobs in ``settings``, the
shared readings of labels (``labels``) and chat messages (``chat``). Importing this package loads
nothing (``reward_service.settings`` reads ``compat.settings``)."""
