"""gatenet: train, serve and inspect small neural networks on boolean functions."""

__version__ = "0.1.0"
