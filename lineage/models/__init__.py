"""Reference networks built from `lineage.blocks`; importing this registers them."""

from lineage.models.registry import build_model, model_names, register_model

__all__ = ['build_model', 'model_names', 'register_model']

# Model modules register themselves on import.
from lineage.models import ladder  # noqa: E402,F401
from lineage.models import shufflenet  # noqa: E402,F401
from lineage.models import squeezenet  # noqa: E402,F401
