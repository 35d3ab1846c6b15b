"""Reference reproduction of EfficientNetV2 (Tan & Le, ICML 2021).

Modules, one concern each. The subject:
  cli         argparse value types the commands share (positive counts and the like)
  config      the typed config schema, YAML layering and overrides (imports nothing from the package)
  config_show `config show`: a run's fully resolved config and stage table, without training
  data        dataset manifests, mirrors/downloads, checksums, safe extraction, loaders, transforms
  models      EfficientNetV2 definition (block strings, Table 4), baselines from timm, registry
  progressive the progressive-learning schedule (Algorithm 1, Table 6) and what each batch trains with
  recipe      the training recipe's parts: model, optimizer, LR schedule, mixup, transforms, data order
  train       the Accelerate training loop with adaptive regularization
  results     run records and checkpoints: schema, atomic writes, the run lock
  measure     params, multiply-adds, throughput, latency, memory
  weights     the released weights (timm) in our models, and their evaluation
  paper       the paper's reference values (read-only data in paper_data/)
  studies     one study spec per profile (smoke, cpu, gpu): trainer defaults, arms, seeds, queue
The layer above it:
  study       the specs' loader, the experiment families, the notebooks' batches, benchmarks, NAS
  report      the report, tables and figures from the logged results
"""

import warnings

# tqdm.auto (imported by timm's hub code) asks for ipywidgets in every notebook; the bars are off there anyway
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
