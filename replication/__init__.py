"""Reference reproduction of EfficientNetV2 (Tan & Le, ICML 2021).

Modules, one concern each:
  data        dataset manifests, mirrors/downloads, checksums, safe extraction, loaders
  models      EfficientNetV2 definition, baselines from timm, registry
  measure     params, multiply-adds, throughput, latency, memory
  progressive the progressive-learning schedule (paper Algorithm 1) and its variants
  train       the Accelerate training loop with adaptive regularization
  results     the run-record schema (atomic writes)
  paper       the paper's reference values (read-only data)
  runbook     papermill batches (`make figures`, `make experiments`) and the report
"""

import warnings

# tqdm.auto (imported by timm's hub code) asks for ipywidgets in every notebook; the bars are off there anyway
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"
