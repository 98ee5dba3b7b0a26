"""Reference networks built from `lineage.blocks`; importing this registers them."""

from lineage.models.registry import ModelInfo, build_model, model_info, model_names, register_model

__all__ = ['ModelInfo', 'build_model', 'model_info', 'model_names', 'register_model']

# Model modules register themselves on import.
from lineage.models import (
    googlenet,  # noqa: E402,F401
    inception_v3,  # noqa: E402,F401
    ladder,  # noqa: E402,F401
    mobilenet_v1,  # noqa: E402,F401
    mobilenet_v2,  # noqa: E402,F401
    resnet,  # noqa: E402,F401
    shufflenet,  # noqa: E402,F401
    squeezenet,  # noqa: E402,F401
    xception,  # noqa: E402,F401
)
