# %% [markdown]
# # Tuning the second proxy's recipe on a minival (issue 30)
#
# The arms of the `tuning` family of the study spec: candidate short-schedule recipes for a fixed
# 128 px baseline, from the field (optimizer, LR schedule, crops, light augmentation), each trained on
# Imagenette train without its minival and scored on that minival only; the validation set is never
# read. The family's `rule` in the spec says how the winner was chosen, before its runs; the winner's
# settings are the `second_proxy` family's recipe. The gpu spec has no tuning family (its second proxy
# reuses the cpu-tuned recipe), so `python -m replication experiments --profile gpu` skips this notebook.
#
# Run: `papermill notebooks/experiments/tuning.ipynb build/tuning.ipynb -p study cpu`
# (or `python -m replication study run cpu --family tuning`, in the spec's queue order).

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
arms = []  # a subset of the family's arms ([]: all of them)
seeds = []  # a subset of the seeds ([]: the spec's)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

experiments.run_family(study, "tuning", arms, seeds, root, check=globals())
