"""Who may do what: the staff roles, the API key roles (the staff roles plus `integration`,
for a system such as an ERP), and the roles that approve (credit releases, prices below the
discount floor). storage.models.Role is the staff column's enum of the same names."""

from __future__ import annotations

STAFF_ROLES = ("sales", "manager", "warehouse", "finance", "admin")
KEY_ROLES = (*STAFF_ROLES, "integration")
# May release a held credit gate and set any price; admin may do everything.
# The manager roles: also who may use 加急、放行、看板 and who gets the daily report.
APPROVERS = frozenset({"manager", "admin"})
ADMIN = "admin"


def is_manager(role: object) -> bool:
    """Whether a staff role (a Role member or its value) is one of the manager roles."""
    return str(getattr(role, "value", role)) in APPROVERS
