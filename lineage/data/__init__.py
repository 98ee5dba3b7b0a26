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
from lineage.data import digits as digits  # noqa: E402
from lineage.data import image_folder as image_folder  # noqa: E402
from lineage.data import tfds_dataset as tfds_dataset  # noqa: E402
