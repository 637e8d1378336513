"""A thin wrapper over LiteRT's interpreter: thread count, int8 (de)quantisation for the
caller, a resizable batch, and clear errors for files that are not models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engocr.errors import ModelError
from engocr.realtime.quiet import quiet_native_stderr


def default_threads() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class TFLiteEngine:
    """Runs one `.tflite` model. Inputs and outputs are float32 arrays whatever the model's
    quantisation; outputs come back ordered by tensor index, or as the caller sorts them."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.exists():
            raise ModelError(f"{self.path}: model file not found")
        data = self.path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError(f"{self.path}: not a TFLite model (no TFL3 identifier)")
        self.threads = threads or default_threads()
        try:
            with quiet_native_stderr():
                self.interpreter = Interpreter(model_content=data, num_threads=self.threads)
            detail = self.interpreter.get_input_details()[0]
            signature = detail.get("shape_signature", detail["shape"])
            # Models converted at a fixed batch (the fused-LSTM recognizer) cannot be resized:
            # run() pads or splits to that batch instead. Their LSTM ops keep the last state
            # in variable tensors, reset before each batch or one batch leaks into the next.
            self.fixed_batch = int(signature[0]) if len(signature) and signature[0] > 0 \
                else None
            # A detector exported with free height and width is sized per frame by its
            # caller. Those dimensions come as 1x1, too small for a strided network to even
            # allocate: start at a valid size.
            self.free_size = len(signature) == 4 and signature[1] < 0 and signature[2] < 0
            if self.free_size:
                self.interpreter.resize_tensor_input(detail["index"], [1, 64, 64, signature[3]])
            with quiet_native_stderr():
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.path}: cannot load model ({exc})") from None
        self._refresh()

    def _refresh(self) -> None:
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(v) for v in o["shape"]) for o in self.outputs]


    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Change the input shape (batch, or height and width of a free-size model);
        re-allocates only when it differs."""
        if tuple(shape) == self.input_shape:
            return
        self.interpreter.resize_tensor_input(self.input["index"], list(shape), strict=False)
        self.interpreter.allocate_tensors()
        if self.free_size:
            # Sizes computed inside the graph (the upsampling) settle only when it runs.
            self.interpreter.set_tensor(self.input["index"], np.zeros(shape, self.input["dtype"]))
            self.interpreter.invoke()
        self._refresh()

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Invoke on a float32 batch; returns float32 outputs (dequantised where needed)."""
        if self.fixed_batch and x.shape[0] != self.fixed_batch:
            return self._run_fixed(x)
        if tuple(x.shape) != self.input_shape:
            self.resize_input(x.shape)
        detail = self.input
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
        else:
            x = x.astype(np.float32, copy=False)
        if self.fixed_batch:
            self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(detail["index"], x)
        self.interpreter.invoke()
        outs = []
        for o in self.outputs:
            y = self.interpreter.get_tensor(o["index"])
            if o["dtype"] != np.float32:
                scale, zero = o["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            outs.append(y)
        return outs

    def _run_fixed(self, x: np.ndarray) -> list[np.ndarray]:
        """Any batch through a fixed-batch model: zero-padded chunks, padding dropped."""
        n, b = x.shape[0], self.fixed_batch
        parts: list[list[np.ndarray]] = []
        for start in range(0, n, b):
            chunk = x[start:start + b]
            if len(chunk) < b:
                chunk = np.concatenate([chunk, np.zeros((b - len(chunk), *x.shape[1:]),
                                                        x.dtype)])
            parts.append([o[:min(b, n - start)] for o in self.run(chunk)])
        return [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]
