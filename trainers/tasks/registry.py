"""The tasks by name (``trainer.task``): each lives in its own small module of this package."""

from __future__ import annotations

from hpo.errors import unknown_name_error
from hpo.trainers.tasks.base import Task
from hpo.trainers.tasks.causal_lm import CausalLanguageModelTask
from hpo.trainers.tasks.chat import ChatTask
from hpo.trainers.tasks.classification import ClassificationTask
from hpo.trainers.tasks.question_answering import QuestionAnsweringTask
from hpo.trainers.tasks.regression import RegressionTask

TASKS: dict[str, type[Task]] = {task.name: task for task in (ClassificationTask, RegressionTask, CausalLanguageModelTask, ChatTask, QuestionAnsweringTask)}


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as ``name``.

    Raises:
        ConfigError: an unknown name, listing the registered ones.
    """
    if name not in TASKS:
        raise unknown_name_error("trainer.task", name, TASKS)
    return TASKS[name]()
