# %% [markdown]
# # Training-aware NAS at small scale (§3.3)
#
# EfficientNetV2-B0 and random architectures of the stage-based search space (op, kernel,
# expansion, layers per stage; channels from the V2-B0 backbone), each trained briefly at a
# reduced size on a subset, timed against V2-B0 and scored with the reward A·S^-0.07·P^-0.05
# (`replication.study.nas`). The numbers come from the study spec (family `nas`). Writes
# `results/nas/<run_id>/`; finished samples are skipped.
#
# Run: `papermill notebooks/experiments/nas.ipynb build/nas.ipynb -p study cpu`.

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

frame = experiments.run_family(study, "nas", root=root, check=globals())
frame.drop(columns=["blocks"])

# %% [markdown]
# Ranked by reward, with how V2-like each sample is; the figure shows reward against accuracy.

# %%
from replication.report import nas_figure

table = nas_figure.table(frame)
fig = nas_figure.figure(table)
table[["rank", "run_id", "reward", "accuracy", "step_time_ratio", "params_ratio", "v2_likeness", "blocks"]]
