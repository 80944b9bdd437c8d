"""The fixed 'disease model' behind the synthetic cohort: items, codes and the shared risk structure.

Kept apart from the sampler so the causal story can be read in one place. The structure is constant
across seeds: a seed changes the patients sampled, never the clinical relationships.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    name: str
    itemid: int          # MIMIC-IV itemids, so the layout looks familiar
    normal: float
    scale: float         # between-patient spread, also the standardisation unit
    severity: float      # how strongly acute severity moves the level (in scale units)
    chronic: dict        # chronic condition -> shift in scale units
    rate: float          # expected measurements in the observation window
    p_measured: float    # chance the item is measured at all in the window
    decimals: int = 1
    floor: float = 0.0   # smallest value a real lab reports (keeps KDIGO ratios meaningful)


ITEMS: tuple[Item, ...] = (
    Item("creatinine", 50912, 1.0, 0.45, 0.5, {"ckd": 2.2}, 1.5, 0.92, 2, floor=0.3),
    Item("lactate", 50813, 1.6, 0.9, 0.9, {}, 1.2, 0.60),
    Item("wbc", 51301, 8.5, 3.5, 0.6, {"cancer": 0.4}, 1.3, 0.90),
    Item("hemoglobin", 51222, 12.5, 1.8, -0.4, {"ckd": -0.9, "cancer": -0.6}, 1.3, 0.90),
    Item("potassium", 50971, 4.2, 0.5, 0.3, {"ckd": 0.9}, 1.5, 0.90),
    Item("sodium", 50983, 139.0, 4.0, -0.3, {"chf": -0.6}, 1.5, 0.90),
    Item("glucose", 50931, 125.0, 40.0, 0.3, {"diabetes": 1.6}, 1.5, 0.90, 0),
    Item("heart_rate", 220045, 86.0, 15.0, 0.8, {"chf": 0.3}, 6.0, 1.0, 0),
    Item("sbp", 220179, 124.0, 18.0, -0.7, {}, 5.0, 1.0, 0),
    Item("resp_rate", 220210, 18.0, 4.0, 0.6, {"copd": 0.7}, 5.0, 1.0, 0),
    Item("temperature", 223762, 37.0, 0.6, 0.5, {}, 4.0, 1.0),
    Item("spo2", 220277, 96.0, 2.5, -0.6, {"copd": -0.9}, 5.0, 1.0, 0),
)
ITEM_BY_NAME = {it.name: it for it in ITEMS}

CHRONIC = ("chf", "ckd", "diabetes", "copd", "cancer")
# condition -> (ICD-9 code, ICD-10 code), stored without dots as MIMIC-IV does
CODES = {
    "chf": ("4280", "I509"), "ckd": ("5859", "N189"), "diabetes": ("25000", "E119"),
    "copd": ("496", "J449"), "cancer": ("1991", "C801"), "sepsis": ("0389", "A419"),
}
FILLER_CODES = (("4019", "I10"), ("2724", "E785"), ("42731", "I4891"), ("486", "J189"), ("5990", "N390"))
ICD10_FROM_YEAR = 2016

OUTCOMES = ("in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis")
PREVALENCE = {"in_hospital_mortality": 0.08, "readmission_30d": 0.15, "prolonged_stay": 0.30,
              "aki": 0.12, "sepsis": 0.035}

# Shared hidden risk factors, each tanh(sum of coefficient * standardised observed quantity).
# Keys: item names (window mean, in scale units), "trend:<item>" (last - mean), demographics, prior flags.
HIDDEN = {
    "shock": {"lactate": 0.8, "heart_rate": 0.5, "resp_rate": 0.4, "sbp": -0.6, "spo2": -0.4,
              "wbc": 0.3, "temperature": 0.3},
    "renal": {"creatinine": 0.9, "potassium": 0.4, "hemoglobin": -0.3, "prior_ckd": 0.3},
    "frailty": {"age": 0.6, "prior_chf": 0.5, "prior_copd": 0.4, "prior_cancer": 0.6,
                "prior_diabetes": 0.2, "n_prior": 0.4, "emergency": 0.3},
    "trajectory": {"trend:lactate": 0.7, "trend:heart_rate": 0.4, "trend:sbp": -0.5,
                   "trend:creatinine": 0.5},
    "metabolic": {"glucose": 0.6, "sodium": -0.5, "prior_diabetes": 0.4},
}
# The nonlinear interaction: shock is far worse in the frail.
INTERACTIONS = {"shock_x_frailty": ("shock", "frailty")}
LOADINGS = {
    "in_hospital_mortality": {"shock": 1.5, "renal": 0.5, "frailty": 0.9, "trajectory": 0.8,
                              "shock_x_frailty": 0.9},
    "readmission_30d": {"shock": 0.3, "renal": 0.6, "frailty": 1.2, "metabolic": 0.5},
    "prolonged_stay": {"shock": 1.0, "renal": 0.5, "frailty": 0.6, "trajectory": 0.6, "metabolic": 0.4},
    "aki": {"shock": 0.6, "renal": 1.6, "trajectory": 0.5, "frailty": 0.3},
    "sepsis": {"shock": 1.4, "frailty": 0.3, "shock_x_frailty": 0.7, "wbc": 0.4, "temperature": 0.4},
}
