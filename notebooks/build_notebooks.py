"""Write the notebooks in notebooks/experiments and notebooks/figures, and notebooks/profiles/smoke.

    python notebooks/build_notebooks.py          # rewrite them (no outputs are ever stored)
    python notebooks/build_notebooks.py --check  # exit 1 if a committed notebook differs

This file is the source of the notebooks: edit it, then rerun. Each notebook has one cell tagged
``parameters`` holding every knob with its smoke value (papermill overrides them from
``notebooks/profiles/<profile>/<notebook>.yaml``); the other cells only call the package.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

HERE = Path(__file__).resolve().parent
SMOKE_OUT = dict(output_dir="build/smoke/results", checkpoint_dir="build/smoke/checkpoints")
TRAIN_COMMON = dict(profile="smoke", dataset="imagenette_tiny")

EXPERIMENTS = {
    "static": dict(
        doc="Exact architecture properties: params and multiply-adds of every model row of Tables 1, 3, 7, 10 "
            "and 11, and Table 4 read back from the EfficientNetV2-S modules. Writes `results/static/`.",
        params=dict(profile="smoke", tables=["table11"], output_dir=SMOKE_OUT["output_dir"]),
        cells=["from replication import experiments\n\nframe = experiments.static(tables, output_dir)\n"
               "frame[['table', 'paper_row', 'model', 'params_M', 'paper_params_M', 'macs_B', 'paper_flops_B']]"]),
    "speed_memory": dict(
        doc="Speed and memory on this machine (Tables 2, 3, 7, 10, 11 and Figure 3): training throughput, "
            "inference latency/throughput and estimated training memory against a budget. Writes "
            "`results/bench/<name>.csv`; rows already logged for this hardware are skipped.",
        params=dict(profile="smoke", t2_model="efficientnetv2_b0", t2_image_sizes=[64, 96], t2_batch_sizes=[2],
                    memory_batch_sizes=[2], memory_budget_gib=16.0,
                    fused_models=["effnet_b4_ours", "effnet_b4_fused1_3"], fused_image_size=32, fused_batch_size=2,
                    latency_models=["efficientnetv2_b0", "efficientnet_b0"], latency_image_size=32,
                    latency_batch_size=2, throughput_models=["efficientnetv2_b0", "efficientnet_b1"],
                    throughput_image_size=32, throughput_batch_size=2, train_models=["efficientnetv2_b0"],
                    train_image_size=32, train_batch_size=2, warmup=1, repeats=1, amp_dtype="", bench_name="speed_smoke",
                    output_dir=SMOKE_OUT["output_dir"]),
        cells=["from replication import experiments\n\n"
               "# image sizes of None mean each model's own size (eval size for inference, train size for training)\n"
               "jobs = experiments.speed_jobs(\n"
               "    t2_model, t2_image_sizes, t2_batch_sizes, memory_batch_sizes,\n"
               "    fused_models, fused_image_size, fused_batch_size,\n"
               "    latency_models, latency_image_size, latency_batch_size,\n"
               "    throughput_models, throughput_image_size, throughput_batch_size,\n"
               "    train_models, train_image_size, train_batch_size)\n"
               "len(jobs)",
               "frame = experiments.speed(jobs, output_dir, warmup=warmup, repeats=repeats, budget_gib=memory_budget_gib,\n"
               "                           name=bench_name, amp_dtype=amp_dtype)\n"
               "frame[[c for c in ('kind', 'model', 'image_size', 'batch_size', 'images_per_second', 'estimated_gib', 'hardware') if c in frame]]"]),
    "size_augmentation": dict(
        doc="Table 5 proxy: a grid of fixed training sizes x RandAugment magnitudes, same epochs, several seeds. "
            "Does weak augmentation win at small sizes and strong augmentation at large ones?",
        params=dict(**TRAIN_COMMON, model="efficientnetv2_b0", image_sizes=[32], magnitudes=[5], epochs=2, seeds=[0],
                    **SMOKE_OUT),
        cells=["from replication import experiments\n\n"
               "experiments.size_augmentation(profile, dataset, model, image_sizes, magnitudes, epochs, seeds, output_dir, checkpoint_dir)"]),
    "progressive": dict(
        doc="Table 12 and Figure 1 proxy: each model trained with a fixed size (mode `fixed`) and with progressive "
            "learning (mode `paper`), same epochs, several seeds; wall-clock time and accuracy. Its checkpoints "
            "are the starting points of the transfer notebook.",
        params=dict(**TRAIN_COMMON, models=["efficientnetv2_b0"], modes=["paper"], epochs=2, seeds=[0], **SMOKE_OUT),
        cells=["from replication import experiments\n\n"
               "experiments.progressive(profile, dataset, models, modes, epochs, seeds, output_dir, checkpoint_dir)"]),
    "adaptive_regularization": dict(
        doc="Table 13 and Figure 6 proxy: progressive resize and random resize, each with regularization held "
            "fixed or growing with the image size (adaptive), several seeds; per-epoch curves are logged.",
        params=dict(**TRAIN_COMMON, model="efficientnetv2_b0", arms=["progressive_adaptive"], epochs=2, seeds=[0],
                    **SMOKE_OUT),
        cells=["from replication import experiments\n\n"
               "experiments.adaptive_regularization(profile, dataset, model, arms, epochs, seeds, output_dir, checkpoint_dir)"]),
    "transfer": dict(
        doc="Tables 8 and 9: dataset statistics from the loaders, then transfer from the progressive notebook's "
            "checkpoints (V2 and V1 proxies) with the §5.3 recipe (cosine, no weight decay, cutout).",
        params=dict(profile="smoke", stats_datasets=["imagenette_tiny"], datasets=["imagenette_tiny"],
                    models=["efficientnetv2_b0"], source_experiment="t12_progressive", source_mode="paper",
                    image_size=32, epochs=2, seeds=[0], **SMOKE_OUT),
        cells=["from replication import experiments\n\nexperiments.dataset_stats(stats_datasets, output_dir)",
               "experiments.transfer(profile, datasets, models, source_experiment, source_mode, image_size, epochs, seeds,\n"
               "                     output_dir, checkpoint_dir)"]),
    "nas": dict(
        doc="§3.3 training-aware NAS at small scale: V2-B0 and `samples` random architectures of the stage-based "
            "search space (op, kernel, expansion, layers per stage; channels from the V2-B0 backbone), each trained "
            "briefly at a reduced size on a subset, timed against V2-B0 and scored with the reward A·S^-0.07·P^-0.05 "
            "(`replication.nas`). Writes `results/nas/<run_id>/`; finished samples are skipped.",
        params=dict(**TRAIN_COMMON, samples=1, epochs=1, seed=0, sample_image_size=32, train_limit=32, eval_limit=32,
                    batch_size=16, threads=1, **SMOKE_OUT),
        cells=["from replication import experiments\n\n"
               "frame = experiments.nas(profile, dataset, samples, epochs, seed, output_dir, checkpoint_dir,\n"
               "                        image_size=sample_image_size, train_limit=train_limit, eval_limit=eval_limit,\n"
               "                        batch_size=batch_size, threads=threads)\n"
               "frame.drop(columns=['blocks'])",
               "from replication.report import nas_figure\n\n"
               "table = nas_figure.table(frame)\n"
               "fig = nas_figure.figure(table)\n"
               "table[['rank', 'run_id', 'reward', 'accuracy', 'step_time_ratio', 'params_ratio', 'v2_likeness', 'blocks']]"]),
}

FIGURE_PARAMS = dict(results_dir="results", figures_dir="figures", include_smoke=False)
FIGURES = {
    f"figure0{n}": dict(
        doc=f"Figure {n}: the paper's points beside ours (evidence kind and hardware in the footer). "
            "Writes `figures/figure0{n}.png` and `.svg`.",
        params=FIGURE_PARAMS,
        cells=["from IPython.display import Image\n\nfrom replication import report\n\n"
               f"item = report.build_figure('F{n}', results_dir, figures_dir, include_smoke)\n"
               "print('\\n'.join(report.items.header_lines(item)))\n"
               f"Image(filename=f'{{figures_dir}}/{{item.stem}}.png')"])
    for n in (1, 3, 5, 6)
}
FIGURES["tables"] = dict(
    doc="Tables 1-13: the paper's numbers beside ours, with evidence kind and hardware. Writes "
        "`figures/tableNN.csv` and `.md`.",
    params=FIGURE_PARAMS,
    cells=["from replication import report\n\nitems = report.build_tables(results_dir, figures_dir, include_smoke)\n"
           "report.overview(items)"])


HELP = {  # one line of help per knob, shown by `papermill --help-notebook`
    "profile": "trainer profile: replication/profiles/<profile>.yaml", "dataset": "dataset name (replication.data)",
    "model": "registered model name", "models": "registered model names", "epochs": "epochs per run",
    "seeds": "one run per seed", "seed": "search seed", "output_dir": "results root folder",
    "checkpoint_dir": "checkpoint root folder (git-ignored)", "image_sizes": "fixed training sizes (px)",
    "magnitudes": "fixed RandAugment magnitudes", "modes": "schedule modes: fixed | paper | official",
    "arms": "progressive_vanilla | progressive_adaptive | random_vanilla | random_adaptive",
    "tables": "paper tables whose model rows are counted", "datasets": "transfer target datasets",
    "stats_datasets": "datasets counted for Table 9", "source_experiment": "experiment holding the checkpoints",
    "source_mode": "schedule mode of the source runs", "image_size": "fine-tuning image size (px)",
    "samples": "number of sampled architectures", "sample_image_size": "NAS: training and timing image size (px)",
    "train_limit": "NAS: training images per sample (0: all)", "eval_limit": "NAS: evaluation images (0: all)",
    "threads": "torch threads (0: leave as is; 1 is fastest on a shared CPU)", "results_dir": "results root folder",
    "figures_dir": "output folder for figures and tables", "include_smoke": "also show smoke-profile runs",
    "warmup": "untimed steps", "repeats": "timed steps (median reported)", "amp_dtype": "'' (fp32), float16 or bfloat16",
    "bench_name": "results/bench/<bench_name>.csv", "memory_budget_gib": "memory budget judged (GiB)",
}


def _line(name, value) -> str:
    kind = type(value).__name__ if value is not None else "str"
    text = HELP.get(name) or ("image size in px (None: the model's own)" if name.endswith("image_size")
                              else "batch size" if name.endswith("batch_size") or name.endswith("batch_sizes")
                              else "registered model names" if name.endswith("models") or name.endswith("model")
                              else "image sizes (px)")
    return f"{name}: {kind} = {value!r}  # {text}"


def notebook(name: str, spec: dict, kind: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    run = (f"papermill notebooks/{kind}/{name}.ipynb build/{kind}/{name}.ipynb "
           f"-f notebooks/profiles/cpu/{name}.yaml" if kind == "experiments"
           else f"papermill notebooks/{kind}/{name}.ipynb build/{kind}/{name}.ipynb")
    intro = (f"# {name.replace('_', ' ').capitalize()}\n\n{spec['doc']}\n\n"
             f"Run: `{run}` (or `python -m replication.runbook {kind}`). The defaults below are the smoke "
             "profile's; keep derived values out of the parameters cell.")
    params = nbformat.v4.new_code_cell("\n".join(_line(k, v) for k, v in spec["params"].items()))
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(intro), params, *[nbformat.v4.new_code_cell(c) for c in spec["cells"]]]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name.replace('_', '-')}-{i}"
    return nb


def outputs() -> dict[Path, str]:
    files = {}
    for kind, specs in (("experiments", EXPERIMENTS), ("figures", FIGURES)):
        for name, spec in specs.items():
            files[HERE / kind / f"{name}.ipynb"] = nbformat.writes(notebook(name, spec, kind)) + "\n"
    for name, spec in EXPERIMENTS.items():
        text = "# smoke profile: the notebook's own defaults (generated by notebooks/build_notebooks.py)\n"
        files[HERE / "profiles" / "smoke" / f"{name}.yaml"] = text + yaml.safe_dump(spec["params"], sort_keys=False)
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("out of date (run python notebooks/build_notebooks.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
