"""Other trainers' reward protocols on the native router: OpenRLHF's ``/get_reward``
(``openrlhf``) and V-Triune's ``/judge`` (``vtriune``), mounted by ``routes``; their knobs in
``settings``. Importing this package loads nothing (``reward_service.settings`` reads
``compat.settings``)."""
