"""Write examples/tabular_example.csv: a small, seeded, made-up flat table for configs/tabular_example.yaml.

    python examples/make_tabular_example.py

3,000 hospital stays of 2,400 made-up patients: a few predictors, three 0/1 outcomes caused by them
(readmission is empty after an in-hospital death), and identifier / date columns the config excludes.
Nothing in it describes a real person.
"""
from pathlib import Path

import numpy as np
import pandas as pd

N_STAYS, N_PATIENTS, SEED = 3000, 2400, 7


def table(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patient = rng.integers(0, N_PATIENTS, N_STAYS)
    age = np.clip(rng.normal(64, 16, N_STAYS), 18, 100).round()
    sex = rng.choice(["F", "M"], N_STAYS)
    ward = rng.choice(["medicine", "surgery", "cardiology", "oncology"], N_STAYS, p=[0.45, 0.25, 0.2, 0.1])
    creatinine = np.exp(rng.normal(0.05, 0.45, N_STAYS)).round(2)
    lactate = np.where(rng.random(N_STAYS) < 0.3, np.nan, np.exp(rng.normal(0.4, 0.5, N_STAYS)).round(1))
    lac = np.nan_to_num(lactate, nan=1.5)
    risk = 0.035 * (age - 64) + 0.9 * np.log(creatinine) + 0.6 * np.log(lac) + (ward == "oncology") * 0.8
    died = rng.random(N_STAYS) < 1 / (1 + np.exp(-(risk - 2.4)))
    readmit = np.where(died, np.nan, rng.random(N_STAYS) < 1 / (1 + np.exp(-(0.5 * risk + 0.3 * (sex == "M") - 1.9))))
    icu = rng.random(N_STAYS) < 1 / (1 + np.exp(-(risk + 0.5 * (lac > 2) ** 2 + 0.7 * (ward == "surgery") - 2.0)))
    admit = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, N_STAYS), unit="D")
    return pd.DataFrame({
        "stay_id": np.arange(100001, 100001 + N_STAYS), "patient_id": patient + 5001,
        "mrn": [f"X{p:07d}" for p in patient], "name": [f"Patient {p}" for p in patient],
        "date_of_birth": (admit - pd.to_timedelta(age * 365.25, unit="D")).strftime("%Y-%m-%d"),
        "admit_date": admit.strftime("%Y-%m-%d"), "age": age, "sex": sex, "ward": ward,
        "creatinine_first": creatinine, "lactate_max": lactate,
        "died_in_hospital": died.astype(int), "readmitted_30d": pd.array(readmit, dtype="Int64"),
        "icu_transfer": icu.astype(int)})


if __name__ == "__main__":
    out = Path(__file__).with_name("tabular_example.csv")
    table().to_csv(out, index=False)
    print(f"wrote {out}")
