"""The bottom layer: canonical records, the box type, typed configs. Imports nothing from imax."""

from imax.schema.box import Box
from imax.schema.records import TASK_NAMES, TaskName

__all__ = ["TASK_NAMES", "Box", "TaskName"]
