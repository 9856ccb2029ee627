"""Every table, so Alembic and the schema check see the whole model."""

from trainer.assignments.models import Assignment
from trainer.audit.models import AuditEvent, AuditHead
from trainer.certification.models import Certificate
from trainer.content.models import CourseVersion
from trainer.db import Base
from trainer.notifications.models import Notification
from trainer.people.models import ApiToken, LoginAttempt, Session, Unit, User, UserRole
from trainer.quizzes.models import Attempt, AttemptAnswer, ModuleRead, ModuleVersionRead
from trainer.ratelimit import RateCounter
from trainer.reports.models import (
    ComplianceChange,
    ComplianceSnapshot,
    ComplianceTally,
    ExamTally,
    ItemMark,
    RequirementTally,
    UnitHeadcount,
)
from trainer.sittings.models import Sitting, SittingPerson, SittingSupervisor, SittingUnit

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "Assignment",
    "Attempt",
    "AttemptAnswer",
    "AuditEvent",
    "AuditHead",
    "Certificate",
    "ComplianceChange",
    "ComplianceSnapshot",
    "ComplianceTally",
    "CourseVersion",
    "ExamTally",
    "ItemMark",
    "LoginAttempt",
    "ModuleRead",
    "ModuleVersionRead",
    "Notification",
    "RateCounter",
    "RequirementTally",
    "Session",
    "Sitting",
    "SittingPerson",
    "SittingSupervisor",
    "SittingUnit",
    "Unit",
    "UnitHeadcount",
    "User",
    "UserRole",
    "metadata",
]
