"""Model verifiers: declared here (name, params, the model kinds that serve them, and the
reward formula from a forward pass's raw output); the forward passes run on model workers."""
