# %% [markdown]
# # Progressive learning for any model
#
# EfficientNetV2's progressive learning (Algorithm 1: the image size, RandAugment, mixup and dropout
# grow together over stages) on a network that is not EfficientNetV2: timm's ResNet-18. First in a
# training loop of your own, where the project adds five lines, then through the project's trainer.
# On the smoke data (`imagenette_tiny`, 400 images in the repository) it runs in a few minutes on
# 2 CPU cores; the accuracy of so short a run means nothing.
#
# Run: `papermill notebooks/examples/progressive_any_model.ipynb build/progressive_any_model.ipynb`.

# %% tags=["parameters"]
dataset = "imagenette_tiny"  # any dataset of data_manifests/ (its train and eval splits)
model_name = "timm:resnet18"  # any timm model (timm:<name>), a registered name, or your own module below
epochs = 4
batch_size = 32
root = ""  # a folder for the trainer's results/ and checkpoints/ ("": a temporary folder)

# %% [markdown]
# ## 1. Your own loop
# A schedule of 2 stages from 64 to 96 px; at each stage `apply_stage` switches the training
# transform (size, RandAugment), the mixup alpha and the classifier dropout. The lines marked
# `# project` are all the project adds to a plain PyTorch loop.

# %%
import tempfile

import torch
import torch.nn.functional as F
from timm.data import Mixup
from torch.utils.data import DataLoader

from replication import data, models, progressive, recipe  # project

torch.manual_seed(0)
model = models.create_model(model_name, num_classes=10)  # project (or any nn.Module of yours)
train_set = data.get_dataset(dataset, "train")  # project (or any dataset with a .transform)
mixup = Mixup(mixup_alpha=0.0, num_classes=10)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
stages = progressive.schedule("paper", epochs, 2, image_size=(64, 96), randaug_magnitude=(0, 10),  # project
                              mixup_alpha=(0.0, 0.2), dropout=(0.0, 0.3))
for epoch in range(epochs):
    stage = progressive.stage_at(stages, epoch)
    transform = recipe.apply_stage(stage, model=model, dataset=train_set, mixup=mixup)  # project
    model.train()
    for x, y in DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True):
        x, y = mixup(transform.finish(x), y)  # finish: the batch's uint8 pixels -> normalized floats
        loss = torch.sum(-y * F.log_softmax(model(x), dim=-1), dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: stage {stage.index + 1}, {stage.image_size} px, RandAugment {stage.randaug_magnitude:g}, "
          f"mixup {stage.mixup_alpha:g}, dropout {stage.dropout:g}, loss {loss.item():.3f}")

# %% [markdown]
# ## 2. The same schedule through the project's trainer
# One config (the smoke profile's defaults with the schedule above); `train.run` takes the model by name,
# or a module of yours with `model=...`. It logs every epoch, evaluates, checkpoints and resumes.

# %%
from replication import config, train

folder = root or tempfile.mkdtemp(prefix="progressive_any_model_")
cfg = config.load(config.CONFIGS_DIR / "progressive.yaml", profile="smoke", updates={
    "experiment": "progressive_any_model", "run_id": model_name.replace(":", "_"),
    "model": {"name": model_name, "drop_path_rate": 0.0},
    "data": {"dataset": dataset, "batch_size": batch_size, "eval_size": 96},
    "schedule": {"stages": 2, "image_size": [64, 96], "randaug_magnitude": [0, 10], "mixup_alpha": [0.0, 0.2],
                 "dropout": [0.0, 0.3]},
    "train": {"epochs": epochs, "results_dir": f"{folder}/results", "checkpoint_dir": f"{folder}/checkpoints"}})
summary = train.run(cfg, overwrite=True)
print(f"{summary['status']}: EMA top-1 {summary['final']['ema_top1']:.1f} % after {summary['epochs']} epochs; "
      f"records in {folder}/results")
