"""Where rewards are computed: the sandboxed process pool and the backends the router calls."""
