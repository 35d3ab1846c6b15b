# %% [markdown]
# # Tables 1-13: the paper's numbers beside ours
#
# Every table with its evidence kind and hardware; writes `figures/tableNN.csv` and `.md`. The
# overview below says, per table, which files were written and what is still missing.
#
# Run: `papermill notebooks/figures/tables.ipynb build/tables.ipynb` (or `make figures` for all).

# %% tags=["parameters"]
results_dir = "results"  # the logged results
figures_dir = "figures"  # where the tables are written
include_smoke = False  # also count smoke-profile runs (never evidence)

# %%
from replication import report

report.overview(report.build_tables(check=globals()))
