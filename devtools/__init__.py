"""Tools the tests and benchmarks share: real servers on 127.0.0.1, tiny models built from a
config, the toy GRPO task. Not part of any installed distribution."""
