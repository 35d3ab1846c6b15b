"""Models: our EfficientNetV2 family (``efficientnetv2``), timm baselines, and their registry.

    from replication.models import create_model, list_models, model_info, set_dropout
    model = create_model("efficientnetv2_s", num_classes=10)
"""
from .registry import (NOT_BUILDABLE, REGISTRY, ModelEntry, create_for_size, create_model, list_models,
                       model_info, set_dropout, zero_init_last_bn)

__all__ = ["ModelEntry", "REGISTRY", "NOT_BUILDABLE", "create_model", "create_for_size", "list_models",
           "model_info", "set_dropout", "zero_init_last_bn"]
