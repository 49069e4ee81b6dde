"""The training pipeline: params, data, suite, training, evaluation, and the notebook runner."""
