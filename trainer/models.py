"""Every table, so Alembic and the schema check see the whole model."""

from trainer.content.models import CourseVersion
from trainer.db import Base

metadata = Base.metadata

__all__ = ["CourseVersion", "metadata"]
