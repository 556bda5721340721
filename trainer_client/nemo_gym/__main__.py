from __future__ import annotations

from trainer_client.nemo_gym import main

main()
