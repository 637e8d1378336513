"""The runtime: TFLite engine, numba kernels, predictors, frame loop, sources and sinks."""
