"""Offline evaluation: splits, ranking metrics, datasets and the runner behind `earworm eval`.

Depends only on the `Recommender` interface: any model that scores users can be evaluated.
See `metrics` for how ranks (and ties) are counted.
"""

from recommender.evaluation.datasets import (
    DatasetError,
    EvaluationDataset,
    load_dataset,
    read_interactions_csv,
    read_pairs_csv,
)
from recommender.evaluation.models import MODELS, ModelUnavailable, build_model
from recommender.evaluation.runner import (
    EvaluationData,
    EvaluationReport,
    evaluate_model,
    run_evaluation,
)
from recommender.evaluation.splits import Split, holdout, leave_one_out, sample_negatives

__all__ = [
    "MODELS",
    "DatasetError",
    "EvaluationData",
    "EvaluationDataset",
    "EvaluationReport",
    "ModelUnavailable",
    "Split",
    "build_model",
    "evaluate_model",
    "holdout",
    "leave_one_out",
    "load_dataset",
    "read_interactions_csv",
    "read_pairs_csv",
    "run_evaluation",
    "sample_negatives",
]
