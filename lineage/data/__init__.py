"""Input pipelines behind one interface (`Dataset`); importing this registers them."""

from lineage.data.dataset import Batch, Dataset, build_dataset, dataset_names, register_dataset

__all__ = ['Batch', 'Dataset', 'build_dataset', 'dataset_names', 'register_dataset']

# Data set modules register themselves on import.
from lineage.data import digits  # noqa: E402,F401
