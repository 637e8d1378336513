"""Recurrent CRNN heads as TFLite's fused sequence op (UNIDIRECTIONAL_SEQUENCE_LSTM).

No Keras 3 path produces the fused op (notes/stack.md): Keras 3's LSTM carries none of the
`api_implements` markers the converter fuses on, and a free batch dimension fails on
`TensorListReserve`. Keras 2 (`tf_keras`) still marks its LSTM, so the trained Keras 3
weights are copied into a `tf_keras` twin of the same architecture and converted from a
concrete function at a fixed batch. The result runs only at that batch (the runtime engine
pads or splits to it); a GRU has no fused TFLite op and stays unrolled.
"""

from __future__ import annotations

from engocr.charset import NUM_CLASSES
from engocr.models.crnn import CRNNConfig


def tf_keras_twin(config: CRNNConfig):
    """The CRNN of `engocr.models.crnn.build_crnn` (recurrent head) in tf_keras, layer names
    kept so that weights copy across by name."""
    import tf_keras
    from tf_keras import layers

    if config.head != "bilstm" or config.body != "vgg":
        raise ValueError("the fused export covers the vgg body with the bilstm head")
    if config.rectify != "none" or config.mixer_blocks:
        # the twin has no rectifier or mixing blocks: their weights would be left out silently
        raise ValueError("the fused export does not cover the rectifier or mixing blocks")

    def conv_bn(x, filters, name, kernel=(3, 3)):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                          name=f"{name}_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_bn", epsilon=1e-3)(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    c, w = config, config.widths
    inputs = tf_keras.Input((c.height, c.width, c.channels), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
    x = layers.MaxPooling2D((2, 2), name="pool1")(conv_bn(x, w[0], "block1"))
    x = layers.MaxPooling2D((2, 2), name="pool2")(conv_bn(x, w[1], "block2"))
    x = conv_bn(conv_bn(x, w[2], "block3a"), w[3], "block3b")
    x = layers.MaxPooling2D((2, 1), name="pool3")(x)
    x = layers.MaxPooling2D((2, 1), name="pool4")(conv_bn(x, w[4], "block4"))
    x = conv_bn(x, w[4], "block5", kernel=(2, 1))
    x = layers.Conv2D(w[4], (2, 1), padding="valid", name="collapse")(x)
    x = layers.Reshape((c.time_steps, w[4]), name="to_sequence")(x)
    x = layers.Bidirectional(layers.LSTM(c.hidden // 2, return_sequences=True),
                             name="seq_rnn")(x)
    return tf_keras.Model(inputs, layers.Dense(NUM_CLASSES, name="logits")(x))


def convert_fused(model, config: CRNNConfig, batch: int) -> bytes:
    """A trained Keras 3 bilstm CRNN to float TFLite with fused LSTM ops, at a fixed batch."""
    import tensorflow as tf

    twin = tf_keras_twin(config)
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    spec = tf.TensorSpec([batch, config.height, config.width, config.channels], tf.float32)
    concrete = tf.function(lambda x: twin(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], twin).convert()
