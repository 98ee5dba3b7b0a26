"""The tiny run the end-to-end tests train: a ladder 4 and 8 channels wide on 16x16 digits."""

from configs import default

STEPS = 5


def tiny_config(**fields):
    """5 steps of batch 16, logged every step, checkpointed at steps 2, 4 and 5 (all three
    kept); `fields` override by dotted name, e.g. `{'model.widths': (4, 8)}`."""
    config = default.get_config()
    config.model.widths = (4, 8)
    config.model.depths = (1, 1)
    config.dataset.image_size = 16
    config.batch_size = 16
    config.num_train_steps = STEPS
    config.log_every_steps = 1
    config.checkpoint_every_steps = 2
    config.keep_checkpoints = 3  # steps 2, 4 and the final 5
    config.optimizer.learning_rate = 0.05
    config.update_from_flattened_dict(fields)
    return config
