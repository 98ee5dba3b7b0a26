"""Reference networks built from `lineage.blocks`; importing this registers them."""

from lineage.models.registry import build_model, model_names, register_model

__all__ = ['build_model', 'model_names', 'register_model']
