"""The ticket vocabulary (types, statuses, priorities) shown in the panel, the desk and reports."""
from __future__ import annotations

from ..i18n import N_

TYPES = {"repair": N_("Repair"), "no_water": N_("No water"), "low_pressure": N_("Low pressure"), "leak": N_("Leak"),
         "water_quality": N_("Water quality"), "meter": N_("Meter"), "billing": N_("Billing"),
         "complaint": N_("Complaint"), "enquiry": N_("Enquiry"), "other": N_("Other")}
STATUSES = {"open": N_("Pending"), "assigned": N_("Assigned"), "in_progress": N_("In progress"),
            "escalated": N_("Escalated"), "resolved": N_("Resolved"), "closed": N_("Closed out")}
PRIORITIES = {"low": N_("Low"), "normal": N_("Normal"), "high": N_("High"), "urgent": N_("Urgent")}
