# %% [markdown]
# # Progressive learning on trial (Tables 12-13, Figures 1 and 6)
#
# The arms of the `progressive` family of the study spec (`replication/studies/<study>.yaml`):
# progressive learning with adaptive regularization (P) against a fixed size at equal epochs (F)
# and at equal training time (F_time), progressive sizes with fixed regularization (V, W), random
# sizes per batch (R, RA), a length trend (P36, F36), EfficientNet-B0 with P's training (V1P) and
# the released code's schedule (O). Finished runs are read back, interrupted ones resume. In the cpu
# study this is the first proxy: it failed its validity gate (under-trained in 12 epochs), so the
# `second_proxy` notebook's runs decide the training claims; these stay in the report as measured.
#
# Run: `papermill notebooks/experiments/progressive.ipynb build/progressive.ipynb -p study cpu`
# (or `python -m replication experiments --profile cpu --only progressive`; for the long cpu runs
# `python -m replication study run cpu` trains the same arms in the spec's queue order).

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
arms = []  # a subset of the family's arms ([]: all of them)
seeds = []  # a subset of the seeds ([]: the spec's)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

experiments.run_family(study, "progressive", arms, seeds, root, check=globals())
