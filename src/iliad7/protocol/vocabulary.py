"""The names the rest of iliad7 relies on: criterion ids, outcome ids, roles.

The eligibility engine implements exactly the criteria of clinical-rules.md
section 3, and the analysis code reads outcomes by id; a protocol file that
renamed, dropped or reordered one would be screened or analysed wrongly
without a word, so the loader checks the file against these lists.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Criterion id -> the parameter names its computable rule reads, in spec order
#: (clinical-rules.md section 3: inclusions, then exclusions).
CRITERIA: Final = MappingProxyType(
    {
        "INC-CONSENT": frozenset[str](),
        "INC-ONCOLOGY": frozenset(
            {
                "chemo_or_immunotherapy_within_months",
                "hsct_within_months",
                "hsct_for_lymphoma_qualifies",
                "car_t_within_months",
                "car_t_not_within_days",
                "surgery_or_radiotherapy_within_months",
            }
        ),
        "INC-AGE": frozenset({"min_age_years", "max_age_years"}),
        "INC-ALC": frozenset({"max_alc_cells_per_mm3", "lookback_hours"}),
        "INC-HYPOXEMIA": frozenset({"oxygen_flow_above_lpm", "devices_at_any_flow"}),
        "INC-COVID": frozenset[str](),
        "INC-CONTRACEPTION": frozenset({"months_after_last_dose"}),
        "EXC-PREGNANCY": frozenset[str](),
        "EXC-LIVER": frozenset({"above_uln_multiple"}),
        "EXC-AUTOIMMUNE": frozenset[str](),
        "EXC-LYMPHOID-MALIGNANCY": frozenset[str](),
        "EXC-LIFE-EXPECTANCY": frozenset({"life_expectancy_below_months"}),
        "EXC-CART": frozenset({"car_t_within_days"}),
        "EXC-TOXICITY": frozenset({"min_unresolved_grade"}),
        "EXC-TRANSPLANT": frozenset[str](),
        "EXC-INFECTION": frozenset[str](),
        "EXC-REFRACTORY-HYPOXIA": frozenset({"max_spo2_percent", "above_hours"}),
        "EXC-PROLONGED-MV": frozenset({"min_ventilation_hours"}),
        "EXC-DIALYSIS": frozenset[str](),
        "EXC-SOFA": frozenset({"min_sofa"}),
        "EXC-BMI": frozenset({"above_bmi"}),
        "EXC-NEWS2-RISE": frozenset({"rise_above_points", "lookback_hours"}),
        "EXC-FRAILTY": frozenset({"min_cfs"}),
        "EXC-GUARDIANSHIP": frozenset[str](),
    }
)
CRITERION_IDS: Final = tuple(CRITERIA)

#: The record's 16 outcome measures: the primary first, then the 15 secondary ones.
PRIMARY_OUTCOME_ID: Final = "ALC"
OUTCOME_IDS: Final = (
    "ALC",
    "WHO-SCALE",
    "VIRAL-LOAD",
    "SECONDARY-INFECTIONS",
    "HOSPITAL-LOS",
    "ICU-LOS",
    "ICU-READMISSIONS",
    "OSFD",
    "REHOSPITALIZATION",
    "MORTALITY-D45",
    "CD4-CD8",
    "FERRITIN",
    "CRP",
    "D-DIMER",
    "NEWS2",
    "AE-GRADE-3-4",
)

#: Roles that may see the arm (kebab case, as the trial database spells roles).
UNBLINDED_ROLES: Final = frozenset({"unblinded-pharmacist", "unblinded-statistician", "dsmb-closed-session"})
#: ClinicalTrials.gov masking roles.
MASKABLE_ROLES: Final = frozenset({"participant", "care-provider", "investigator", "outcomes-assessor"})
#: How many roles each masking level of ClinicalTrials.gov masks.
MASKING_LEVELS: Final = MappingProxyType({"none": 0, "single": 1, "double": 2, "triple": 3, "quadruple": 4})
