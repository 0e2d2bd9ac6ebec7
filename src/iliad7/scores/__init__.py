"""Clinical scores of the ILIAD-7-US-O protocol as pure functions (clinical-rules section 2).

Each score takes a typed input whose fields may be missing and returns a result
with the total, each component's points and what was missing; a missing input
never silently counts as normal.
"""

from iliad7.scores.bmi import BmiInput, BmiResult, bmi, bmi_above, bmi_value
from iliad7.scores.ctcae import TERMS as CTCAE_TERMS
from iliad7.scores.ctcae import CtcaeInput, CtcaeResult, ctcae_grade
from iliad7.scores.news2 import News2Input, News2Result, news2
from iliad7.scores.sofa import SofaInput, SofaResult, sofa, sofa_bounds
from iliad7.scores.units import Quantity, from_canonical, to_canonical
from iliad7.scores.who import WhoInput, WhoResult, who_clinical_progression

CLINICAL_FRAILTY_SCALE = range(1, 10)  # Rockwood 2020: an integer 1-9 entered by the assessor

__all__ = [
    "CLINICAL_FRAILTY_SCALE",
    "CTCAE_TERMS",
    "BmiInput",
    "BmiResult",
    "CtcaeInput",
    "CtcaeResult",
    "News2Input",
    "News2Result",
    "Quantity",
    "SofaInput",
    "SofaResult",
    "WhoInput",
    "WhoResult",
    "bmi",
    "bmi_above",
    "bmi_value",
    "ctcae_grade",
    "from_canonical",
    "news2",
    "sofa",
    "sofa_bounds",
    "to_canonical",
    "who_clinical_progression",
]
