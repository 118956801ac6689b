"""The synthetic task suite (8 datasets, 6 task types) and user JSONL datasets."""

from .base import DATASETS, Example, Split, TaskDataset, TaskType, all_datasets, get_dataset

__all__ = ["DATASETS", "Example", "Split", "TaskDataset", "TaskType", "all_datasets", "get_dataset"]
