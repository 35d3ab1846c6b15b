# %% [markdown]
# # The second proxy: its validity gate, then progressive learning on trial (Tables 10, 12-13, Figures 1 and 6)
#
# The arms of the `second_proxy` family of the study spec, the family whose declared pairs
# (`judged_on`) decide the training claims. Its gate arms: the tuned fixed-size baseline (F; cpu 128 px),
# the same at the trial's first stage sizes (cpu: F96, F64) and without regularization (F_noreg); the checks
# are the spec's `gates` (cpu). Its trial: progressive learning with adaptive regularization (P) against
# F at equal epochs and at equal training time (F_time), progressive sizes with F's regularization
# held (V), a wider size range (Pw), EfficientNet-B1 under P's training (V1) and a length trend
# (F_half, P_half). Finished runs are read back, interrupted ones resume.
#
# Run: `papermill notebooks/experiments/second_proxy.ipynb build/second_proxy.ipynb -p study cpu`
# (or `python -m replication study run cpu --family second_proxy`, in the spec's queue order: P seed 0
# first, the gate seed by seed).

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
arms = []  # a subset of the family's arms ([]: all of them)
seeds = []  # a subset of the seeds ([]: the spec's)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

experiments.run_family(study, "second_proxy", arms, seeds, root, check=globals())
