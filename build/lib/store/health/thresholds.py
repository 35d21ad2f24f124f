"""The health model's thresholds (DESIGN §3 defaults), all configurable."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HealthThresholds(BaseModel):
    outbound_warn_days: int = Field(30, description="Days without outbound contact before it is a warning.")
    outbound_critical_days: int = Field(45, description="Days without outbound contact before it is critical.")
    meeting_warn_days: int = 60
    meeting_critical_days: int = Field(90, description="No meeting in this many days calls for a risk review.")
    usage_warn_drop: float = Field(0.25, description="Usage below the trailing 90-day average by this share.")
    usage_critical_drop: float = 0.50
    usage_month_drop: float = Field(0.30, description="Month-over-month fall that fires the usage playbook.")
    seat_poor_below: float = 0.50
    seat_good_from: float = 0.80
    adoption_norm: dict[str, int] = Field(default_factory=lambda: {"enterprise": 6, "mid_market": 4, "smb": 3},
                                          description="Features in active use expected per segment.")
    nps_detractor_max: int = 6
    nps_promoter_min: int = 9
    csat_poor_below: int = 3
    renewal_windows_days: tuple[int, int, int] = (120, 90, 60)
    onboarding_first_value_days: dict[str, int] = Field(
        default_factory=lambda: {"enterprise": 60, "mid_market": 30, "smb": 30},
        description="Days from contract start to first value, per segment.")
    health_drop_points: int = Field(15, description="A fall this large within the window is an early warning.")
    health_drop_window_days: int = 30
    early_indicators_for_save_plan: int = 3
