"""Input pipelines behind one interface (`Dataset`); importing this registers them."""

from lineage.data.config import dataset_config
from lineage.data.dataset import Batch, Dataset, build_dataset, dataset_names, register_dataset

__all__ = [
    'Batch',
    'Dataset',
    'build_dataset',
    'dataset_config',
    'dataset_names',
    'register_dataset',
]

# Data set modules register themselves on import.
# TensorFlow is imported only when a TF-backed data set is built, so 'digits' runs without it.
from lineage.data import (
    digits,  # noqa: E402,F401
    image_folder,  # noqa: E402,F401
    tfds_dataset,  # noqa: E402,F401
)
