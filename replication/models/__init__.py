"""Models: our EfficientNetV2 family (``efficientnetv2``), timm baselines, and their registry.

    from replication.models import create_model, list_models, model_info, set_dropout
    model = create_model("efficientnetv2_s", num_classes=10)
    model = create_model("timm:resnet18", num_classes=10)        # any timm model by name
    register("my_cnn", lambda num_classes, **kw: MyCNN(num_classes))  # then model.name=my_cnn
"""
from .registry import (NOT_BUILDABLE, REGISTRY, TIMM_PREFIX, ModelEntry, create_for_size, create_model, is_known,
                       list_models, model_info, register, set_dropout, zero_init_last_bn)

__all__ = ["ModelEntry", "REGISTRY", "NOT_BUILDABLE", "TIMM_PREFIX", "create_model", "create_for_size", "is_known",
           "list_models", "model_info", "register", "set_dropout", "zero_init_last_bn"]
