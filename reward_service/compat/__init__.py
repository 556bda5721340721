"""Other trainers' reward protocols on the native router: OpenRLHF's ``/get_reward``
(``openrlhf``), V-Triune's ``/judge`` (``vtriune``), slime's ``remote_rm`` (``slime``) and NeMo
Gym's resources server (``nemo_gym``), mounted by ``endpoints``; their knobs in ``settings``
(apart from the core's: ``create_app`` hands them to these endpoints alone), the shared readings
of labels (``labels``) and chat messages (``chat``). Importing this package loads nothing
(``raas serve`` reads ``compat.settings`` before it builds an app)."""
