# %% [markdown]
# # Image size x RandAugment magnitude (Table 5)
#
# The arms of the `size_augmentation` family of the study spec: each run trains at one fixed size
# with one fixed RandAugment magnitude, the same epochs, several seeds. The paper's claim is an
# interaction: small images prefer weak augmentation, large ones strong augmentation.
#
# Run: `papermill notebooks/experiments/size_augmentation.ipynb build/size_augmentation.ipynb -p study cpu`.

# %% tags=["parameters"]
study = "smoke"  # the study spec: smoke | cpu | gpu (replication/studies/<study>.yaml)
arms = []  # a subset of the family's arms ([]: all of them)
seeds = []  # a subset of the seeds ([]: the spec's)
root = ""  # a folder for results/ and checkpoints/ ("": the study's folders)

# %%
from replication.study import experiments

experiments.run_family(study, "size_augmentation", arms, seeds, root, check=globals())
