"""Compiled forward passes and training steps on the Keras backend in use, so that the trainers
never touch a backend themselves: a TensorFlow graph without XLA (the fastest on these CPUs),
or a jitted JAX function (the GPU machines have JAX and no TensorFlow)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

from engocr.errors import InputError

TRAINING_BACKENDS = ("tensorflow", "jax")


def training_backend() -> str:
    """The Keras backend, if the trainers can run on it."""
    name = keras.backend.backend()
    if name not in TRAINING_BACKENDS:
        raise InputError(f"training runs on the Keras backends {', '.join(TRAINING_BACKENDS)}, "
                         f"not {name}: set KERAS_BACKEND")
    return name


def make_forward(model, training: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """`forward(x) -> numpy outputs`. With `training=True` the batch statistics are used and
    the moving statistics of batch normalization move, as in a training step. Inference also
    runs on the backends the trainers do not (Keras's own `predict_on_batch`)."""
    backend = training_backend() if training else keras.backend.backend()
    if backend not in TRAINING_BACKENDS:
        return lambda x: _numpy(model.predict_on_batch(np.asarray(x, np.float32)))
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=training), reduce_retracing=True)
        return lambda x: _numpy(fn(tf.constant(x, tf.float32)))
    import jax

    @jax.jit
    def call(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=training)

    def forward(x):
        outputs, non_trainable = call(_values(model.trainable_variables),
                                      _values(model.non_trainable_variables),
                                      np.asarray(x, np.float32))
        if training:
            _assign(model.non_trainable_variables, non_trainable)
        return _numpy(outputs)

    return forward


def make_train_step(model, optimizer, loss_fn, optimized: Sequence | None = None):
    """One compiled training step, `step(x, *targets) -> loss`: forward,
    `loss_fn(outputs, *targets)`, backward, update of the model's trainable weights.

    `optimized` lists the weights the optimizer was built with (default: the model's trainable
    ones). It may hold more than are trainable now (a phase with frozen layers): TensorFlow
    updates only the trainable ones; JAX's stateless update wants every weight it was built
    with, so the frozen ones get zero gradients and keep their values (their Adam moments
    decay meanwhile)."""
    if training_backend() == "tensorflow":
        return _tf_train_step(model, optimizer, loss_fn)
    return _jax_train_step(model, optimizer, loss_fn,
                           list(optimized or model.trainable_variables))


def _tf_train_step(model, optimizer, loss_fn):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(x, *targets):
        with tf.GradientTape() as tape:
            loss = loss_fn(model(x, training=True), *targets)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def run(x, *targets):
        return step(*tf.nest.map_structure(tf.convert_to_tensor, (x, *targets)))

    return run


def _jax_train_step(model, optimizer, loss_fn, optimized: list):
    import jax
    import jax.numpy as jnp

    if not optimizer.built:
        optimizer.build(optimized)
    trainable, non_trainable = model.trainable_variables, model.non_trainable_variables
    position = {id(v): i for i, v in enumerate(optimized)}
    missing = [v.path for v in trainable if id(v) not in position]
    if missing:
        raise ValueError(f"the optimizer was not built with {missing[:3]}")
    train_at = [position[id(v)] for v in trainable]
    frozen_at = [(position[id(v)], j) for j, v in enumerate(non_trainable) if id(v) in position]

    def loss_and_state(train_values, state_values, x, targets):
        outputs, state_values = model.stateless_call(train_values, state_values, x,
                                                     training=True)
        return loss_fn(outputs, *targets), state_values

    grad_fn = jax.value_and_grad(loss_and_state, has_aux=True)

    @jax.jit
    def step(train_values, state_values, optimizer_values, x, targets):
        (loss, state_values), grads = grad_fn(train_values, state_values, x, targets)
        values, all_grads = [None] * len(optimized), [None] * len(optimized)
        for k, i in enumerate(train_at):
            values[i], all_grads[i] = train_values[k], grads[k]
        for i, j in frozen_at:
            values[i], all_grads[i] = state_values[j], jnp.zeros_like(state_values[j])
        values, optimizer_values = optimizer.stateless_apply(optimizer_values, all_grads, values)
        return loss, [values[i] for i in train_at], state_values, optimizer_values

    def run(x, *targets):
        loss, train_values, state_values, optimizer_values = step(
            _values(trainable), _values(non_trainable), _values(optimizer.variables), x,
            targets)
        _assign(trainable, train_values)
        _assign(non_trainable, state_values)
        _assign(optimizer.variables, optimizer_values)
        return loss

    return run


def _values(variables) -> list:
    return [v.value for v in variables]


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _numpy(outputs):
    if isinstance(outputs, list | tuple):
        return [keras.ops.convert_to_numpy(o) for o in outputs]
    return keras.ops.convert_to_numpy(outputs)
