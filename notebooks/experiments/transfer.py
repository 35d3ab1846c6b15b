# %% [markdown]
# # Transfer learning (Tables 8 and 9)
#
# First the dataset counts from the loaders (Table 9), then the arms of the `transfer` family of
# the study spec: each fine-tunes the final weights of a `progressive` arm (same seed) with the
# §5.3 recipe scaled down (`replication/configs/transfer.yaml`), plus a from-scratch baseline.
# Run the progressive notebook first: its checkpoints are the starting points.
#
# Run: `papermill notebooks/experiments/transfer.ipynb build/transfer.ipynb -p study cpu`.

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
arms = []  # a subset of the family's arms ([]: all of them)
seeds = []  # a subset of the seeds ([]: the spec's)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

experiments.run_family(study, "transfer", arms, seeds, root, check=globals())
