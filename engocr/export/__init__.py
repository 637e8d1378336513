"""Keras -> TFLite export with model cards, parity checks and latency measurement."""
