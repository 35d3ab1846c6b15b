# %% [markdown]
# # Figure 5: accuracy against FLOPs and latency
#
# The paper's points (`replication/paper_data/`) beside ours (`results/`), with the evidence kind and
# the hardware in the footer. Writes `figures/figure05.png` and `.svg` and shows the figure here;
# change a parameter below and re-run the last cell to redraw it.
#
# Run: `papermill notebooks/figures/figure05.ipynb build/figure05.ipynb` (or `make figures` for all).

# %% tags=["parameters"]
results_dir = "results"  # the logged results
figures_dir = "figures"  # where the figure is written
include_smoke = False  # also draw smoke-profile runs (never evidence)

# %%
from replication import report

report.show_figure("F5", check=globals())
