# %% [markdown]
# # Exact architecture properties (Tables 1, 3, 4, 7, 10, 11)
#
# Parameters and multiply-adds of every model row of the tables the study spec names (family
# `static`), counted on the 'meta' device, and Table 4 read back from the EfficientNetV2-S modules.
# Writes `results/static/`.
#
# Run: `papermill notebooks/experiments/static.ipynb build/static.ipynb -p study cpu`.

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

frame = experiments.run_family(study, "static", root=root, check=globals())
frame[["table", "paper_row", "model", "params_M", "paper_params_M", "macs_B", "paper_flops_B"]]
