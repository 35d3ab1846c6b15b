# %% [markdown]
# # Speed and memory on this machine (Tables 2, 3, 7, 10, 11 and Figure 3)
#
# Training throughput, inference latency and throughput, and estimated training memory against a
# budget, for the jobs the study spec lists (family `speed_memory`). Writes
# `results/bench/<bench_name>.csv`; rows already logged for this hardware are skipped.
#
# Run: `papermill notebooks/experiments/speed_memory.ipynb build/speed_memory.ipynb -p study cpu`.

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

frame = experiments.run_family(study, "speed_memory", root=root, check=globals())
frame.filter(["kind", "model", "image_size", "batch_size", "images_per_second", "estimated_gib", "hardware"])
