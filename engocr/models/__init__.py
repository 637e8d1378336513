"""Keras model definitions (training and export only; the runtime never imports this)."""
