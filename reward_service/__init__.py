"""raas: Reward-as-a-Service for reinforcement learning of language and vision-language models."""

__version__ = "0.1.0"
