"""The thresholds that grade signals and fire playbooks; their values live in the health model file
(store/health/default_model.toml), per segment where a segment overrides them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HealthThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outbound_warn_days: int = Field(ge=1, description="Days without outbound contact before it is a warning.")
    outbound_critical_days: int = Field(ge=1, description="Days without outbound contact before it is critical.")
    meeting_warn_days: int = Field(ge=1)
    meeting_critical_days: int = Field(ge=1, description="No meeting in this many days calls for a risk review.")
    usage_warn_drop: float = Field(gt=0, lt=1, description="Usage below the trailing 90-day average by this share.")
    usage_critical_drop: float = Field(gt=0, lt=1)
    usage_month_drop: float = Field(gt=0, lt=1, description="Month-over-month fall that fires the usage playbook.")
    seat_poor_below: float = Field(ge=0, le=1)
    seat_good_from: float = Field(ge=0, le=1)
    adoption_norm: int = Field(ge=0, description="Features in active use expected of an account.")
    feature_catalogue: int = Field(ge=1, description="Features (or products) the product offers: adoption is "
                                                     "measured against it.")
    nps_detractor_max: int = Field(ge=0, le=10)
    nps_promoter_min: int = Field(ge=0, le=10)
    csat_poor_below: int = Field(ge=1, le=5)
    csat_good_from: int = Field(ge=1, le=5)
    ticket_csat_poor_below: float = Field(ge=1, le=5, description="Mean ticket rating below this is poor.")
    support_volume_warn: float = Field(gt=0, description="Tickets in 90 days per 10 seats that make support load fair.")
    support_volume_critical: float = Field(gt=0, description="... and poor.")
    single_threaded_max: int = Field(ge=0, description="An account with at most this many people engaged in 90 days "
                                                       "is single-threaded (poor).")
    outreach_poor_below: float = Field(ge=0, le=1, description="Reply rate to outreach below this is poor.")
    renewal_windows_days: tuple[int, int, int]
    onboarding_first_value_days: int = Field(ge=1, description="Days from contract start to first value.")
    milestone_overdue_days: int = Field(ge=1, description="A milestone this many days overdue puts the plan at "
                                                          "risk and opens a task for the owner.")
    health_drop_points: int = Field(ge=1, description="A fall this large within the window is an early warning.")
    health_drop_window_days: int = Field(ge=1)
    early_indicators_for_save_plan: int = Field(ge=1)
