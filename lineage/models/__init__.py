"""Reference networks built from `lineage.blocks`; importing this registers them."""

from lineage.models.registry import ModelInfo, build_model, model_info, model_names, register_model

__all__ = ['ModelInfo', 'build_model', 'model_info', 'model_names', 'register_model']

# Model modules register themselves on import.
from lineage.models import googlenet as googlenet  # noqa: E402
from lineage.models import inception_v3 as inception_v3  # noqa: E402
from lineage.models import ladder as ladder  # noqa: E402
from lineage.models import mobilenet_v1 as mobilenet_v1  # noqa: E402
from lineage.models import mobilenet_v2 as mobilenet_v2  # noqa: E402
from lineage.models import resnet as resnet  # noqa: E402
from lineage.models import shufflenet as shufflenet  # noqa: E402
from lineage.models import squeezenet as squeezenet  # noqa: E402
from lineage.models import xception as xception  # noqa: E402
