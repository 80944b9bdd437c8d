"""Seeded, vectorised generator of a MIMIC-IV-shaped cohort whose outcomes are caused by pre-index data.

Admissions are drawn in rounds (a patient's first stay, then each return), so prior diagnoses and
30-day readmissions arise from the data itself. Large cohorts come out in partitions of whole patients,
each with its own seed, so memory holds one partition at a time. Each outcome's true probability is a function of what
is charted before the index time only (window means, trends, demographics, prior codes), written to a
separate truth table: the AUROC of those probabilities is the ceiling any model can reach.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from mtl_core.config import SourceConfig
from mtl_core.config.sources import LaterPeriod
from mtl_core.data.partitions import concat
from mtl_core.errors import ConfigError
from mtl_core.sources import synthetic_spec as spec
from mtl_core.sources.files import sort_events

Progress = Callable[[int, int], None]
HOUR = np.timedelta64(3600, "s")
MAX_ROUNDS = 12
SHORT_STAY_SHARE = 0.03   # stays shorter than the observation window: outside the cohort
RETURN_SHARE = 0.30       # survivors without a 30-day readmission who come back later
PARTITION_PATIENTS = 25_000  # patients per partition; a cohort up to this size is one partition
HADM_BASE = 20_000_000


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _hours(h: np.ndarray) -> np.ndarray:
    return (np.asarray(h) * 3600).astype("timedelta64[s]")


def _patients(rng: np.random.Generator, cfg: SourceConfig, first: int, n: int) -> pd.DataFrame:
    age = np.round(18 + rng.beta(2.2, 1.6, n) * 73).astype(np.int64)
    frailty = rng.normal(size=n)
    out = {
        "subject_id": 10_000_000 + first + np.arange(n, dtype=np.int64),
        "gender": np.where(rng.random(n) < 0.5, "F", "M"),
        "anchor_age": age,
        "anchor_year": cfg.start_year + rng.integers(0, cfg.years, n),
        "_frailty": frailty,
    }
    for c in spec.CHRONIC:
        out[f"_{c}"] = rng.random(n) < _sigmoid(-2.0 + 0.04 * (age - 65) + 0.5 * frailty)
    return pd.DataFrame(out)


def _window_stats(adm: np.ndarray, frac: np.ndarray, val: np.ndarray, n: int):
    """Mean and last value per admission (NaN where the item was not measured)."""
    count = np.bincount(adm, minlength=n)
    total = np.bincount(adm, weights=val, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    last = np.full(n, np.nan)
    order = np.lexsort((frac, adm))  # by admission, then time; the last row per admission wins
    last[adm[order]] = val[order]
    return mean, last


def _window_events(rng, n, level, slope, window_h, density):
    """Measurements of every item in [admittime, admittime + window): rows plus per-admission stats."""
    rows, stats = [], {}
    for item in spec.ITEMS:
        measured = rng.random(n) < item.p_measured
        count = np.where(measured, 1 + rng.poisson(max(item.rate * density - 1, 0), n), 0)
        adm = np.repeat(np.arange(n), count)
        frac = rng.random(adm.size)
        noise = rng.normal(size=adm.size) * 0.25 * item.scale
        val = level[item.name][adm] + slope[item.name][adm] * (frac - 0.5) + noise
        val = np.round(np.clip(val, max(item.floor, item.normal * 0.05),
                               100.0 if item.name == "spo2" else None), item.decimals)
        stats[item.name] = _window_stats(adm, frac, val, n)
        rows.append((adm, item.itemid, frac * window_h[adm], val))
    return rows, stats


def _observed(batch: dict, stats: dict, prior: np.ndarray, n_prior: np.ndarray) -> dict:
    """Standardised quantities a model can see before the index time (the truth is built on these)."""
    x = {"age": (batch["age"] - 65) / 15, "male": batch["male"], "emergency": batch["emergency"],
         "n_prior": np.log1p(n_prior)}
    for j, c in enumerate(spec.CHRONIC):
        x[f"prior_{c}"] = prior[:, j].astype(float)
    for item in spec.ITEMS:
        mean, last = stats[item.name]
        x[item.name] = np.nan_to_num((mean - item.normal) / item.scale)
        x[f"trend:{item.name}"] = np.nan_to_num((last - mean) / item.scale)
    return x


def _logits(x: dict) -> dict:
    h = {k: np.tanh(sum(c * x[q] for q, c in coefs.items())) for k, coefs in spec.HIDDEN.items()}
    for k, (a, b) in spec.INTERACTIONS.items():
        h[k] = h[a] * h[b]
    both = {**x, **h}
    return {o: sum(w * both[q] for q, w in spec.LOADINGS[o].items()) for o in spec.OUTCOMES}


def _calibrate(logits: dict, eligible: np.ndarray) -> dict:
    """Intercepts that give each outcome its target prevalence (bisection on the first round)."""
    out = {}
    for o, z in logits.items():
        lo, hi = -15.0, 15.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _sigmoid(z[eligible] + mid).mean() < spec.PREVALENCE[o] else (lo, mid)
        out[o] = (lo + hi) / 2
    return out


class _Generator:
    """One partition: patients first .. first + n - 1 (by position), their admissions and events."""

    def __init__(self, cfg: SourceConfig, observation_hours: int, rng: np.random.Generator,
                 first: int, n: int, intercepts: dict | None, later: LaterPeriod | None = None,
                 span: tuple[np.datetime64, np.datetime64] | None = None):
        self.cfg, self.obs_h = cfg, float(observation_hours)
        self.rng, self.later, self.span = rng, later, span
        self.patients = _patients(self.rng, cfg, first, n)
        if span is not None:  # ages as of the later period, so the case mix changes only when asked
            self.patients["anchor_year"] = span[0].astype("datetime64[Y]").astype(int) + 1970
        self.intercepts = intercepts  # calibrated on the first partition, then shared
        self.next_hadm = HADM_BASE + first * MAX_ROUNDS  # disjoint, increasing id ranges per partition
        self.out = {k: [] for k in ("admissions", "events", "diagnoses", "truth")}

    def run(self) -> dict[str, pd.DataFrame]:
        rng, pat = self.rng, self.patients
        n_pat = len(pat)
        start = np.datetime64(f"{self.cfg.start_year}-01-01T00:00:00", "s")
        admit = start + _hours(rng.random(n_pat) * 24 * 365 * self.cfg.years * 0.6)
        if self.span is not None:
            start, end = self.span
            admit = start + _hours(rng.random(n_pat) * ((end - start) / HOUR))
        active = np.arange(n_pat)
        prior = np.zeros((n_pat, len(spec.CHRONIC)), bool)
        n_prior = np.zeros(n_pat)
        for r in range(MAX_ROUNDS):
            if active.size == 0:
                break
            nxt = self._round(active, admit[active], prior, n_prior, last=r == MAX_ROUNDS - 1)
            active, admit_next = nxt
            admit[active] = admit_next
        return self._frames()

    def _round(self, idx, admit, prior, n_prior, last):
        rng, pat, n = self.rng, self.patients, idx.size
        hadm = self.next_hadm + np.arange(n, dtype=np.int64)
        self.next_hadm += n
        share = 0.6 if self.later is None or self.later.emergency_share is None else self.later.emergency_share
        kind = rng.choice(["EMERGENCY", "URGENT", "ELECTIVE"], n, p=[share, (1 - share) * 0.375, (1 - share) * 0.625])
        year = admit.astype("datetime64[Y]").astype(int) + 1970
        age = pat["anchor_age"].to_numpy()[idx] + (year - pat["anchor_year"].to_numpy()[idx])
        batch = {"age": age, "male": (pat["gender"].to_numpy()[idx] == "M").astype(float),
                 "emergency": (kind == "EMERGENCY").astype(float)}
        chronic = {c: pat[f"_{c}"].to_numpy()[idx] for c in spec.CHRONIC}
        sev = (0.9 * rng.normal(size=n) + 0.35 * pat["_frailty"].to_numpy()[idx]
               + 0.4 * batch["emergency"] - 0.3 * (kind == "ELECTIVE") + 0.15 * (age - 65) / 15
               + (0.0 if self.later is None else self.later.severity))
        traj = rng.normal(size=n)
        short = rng.random(n) < SHORT_STAY_SHARE
        window_h = np.where(short, rng.uniform(4, self.obs_h - 1, n), self.obs_h)
        level, slope = {}, {}
        for it in spec.ITEMS:
            shift = sum(s * chronic[c] for c, s in it.chronic.items())
            level[it.name] = it.normal + it.scale * (it.severity * sev + shift + 0.6 * rng.normal(size=n))
            slope[it.name] = it.scale * 0.8 * traj * it.severity
        rows, stats = _window_events(rng, n, level, slope, window_h, self.cfg.chart_density)
        x = _observed(batch, stats, prior[idx], n_prior[idx])
        logits = _logits(x)
        if self.intercepts is None:
            self.intercepts = _calibrate(logits, ~short)
        p = {o: _sigmoid(z + self.intercepts[o] + self._shift(o, n)) for o, z in logits.items()}
        y = {o: rng.random(n) < p[o] for o in spec.OUTCOMES}
        died = y["in_hospital_mortality"] & ~short
        prolonged = y["prolonged_stay"] & ~short
        los_h = np.where(prolonged, 24 * (7.25 + rng.exponential(4, n)),
                         24 * rng.uniform(self.obs_h / 24 + 0.25, 6.9, n))
        los_h = np.where(short, window_h + rng.uniform(0.1, 0.9, n), los_h)
        disch = admit + _hours(los_h)
        rows += self._post_index_events(n, admit, los_h, short, died, y["aki"], stats, level)
        rows = self._assay(rows)
        self._emit(idx, hadm, admit, disch, died, kind, rows, y, p, short, chronic)
        # prior codes as recorded on this stay's diagnoses (what a later stay can see)
        recorded = np.stack([chronic[c] & (rng.random(n) < 0.85) for c in spec.CHRONIC], 1)
        self._diagnoses(idx, hadm, year, recorded, y["sepsis"] & ~short)
        prior[idx] |= recorded
        n_prior[idx] += 1
        readmit = y["readmission_30d"] & ~died
        back_later = ~died & ~readmit & (rng.random(n) < RETURN_SHARE)
        go = (readmit | back_later) & (not last)
        gap_days = np.where(readmit, rng.uniform(1, 29, n), 31 + rng.exponential(250, n))
        return idx[go], (disch + _hours(gap_days * 24))[go]

    def _shift(self, outcome: str, n: int):
        """A later period's change of one outcome's logit: a new rate (odds) and an unmeasured cause."""
        if self.later is None:
            return 0.0
        noise = self.later.outcome_noise.get(outcome, 0.0)
        return np.log(self.later.outcome_odds.get(outcome, 1.0)) + (noise * self.rng.normal(size=n) if noise else 0.0)

    def _assay(self, rows: list) -> list:
        """A later period's changed assays: recorded values scaled, the risk behind them unchanged."""
        if self.later is None or not self.later.assay:
            return rows
        factor = {spec.ITEM_BY_NAME[k].itemid: v for k, v in self.later.assay.items()}
        return [(adm, itemid, t_h, np.round(val * factor[itemid], 2) if itemid in factor else val)
                for adm, itemid, t_h, val in rows]

    def _post_index_events(self, n, admit, los_h, short, died, aki, stats, level):
        """Creatinine that defines AKI, and vitals that would leak death if a feature used them."""
        rng, obs = self.rng, self.obs_h
        elig = np.flatnonzero(~short)
        k = 1 + rng.poisson(1.0, elig.size)
        adm = np.repeat(elig, k)
        end_h = np.minimum(obs + 48, los_h[adm])
        t_h = obs + (0.02 + 0.98 * rng.random(adm.size)) * (end_h - obs)
        base = stats["creatinine"][1][adm]
        base = np.where(np.isnan(base), level["creatinine"][adm], base)
        calm = base + rng.uniform(-0.2, 0.2, adm.size) * np.minimum(base, 1.0)
        peak = base + np.maximum(0.5 * base, 0.3) + rng.uniform(0.05, 0.6, adm.size) * np.maximum(base, 0.5)
        first = np.r_[True, adm[1:] != adm[:-1]]
        crea = np.round(np.where(aki[adm] & first, peak, calm), 2)
        hr_adm = np.repeat(elig, 2)
        hr_t = obs + rng.random(hr_adm.size) * (los_h[hr_adm] - obs)
        hr = np.round(level["heart_rate"][hr_adm] + 15 * died[hr_adm] + rng.normal(0, 4, hr_adm.size))
        return [(adm, 50912, t_h, crea), (hr_adm, 220045, hr_t, hr)]

    def _emit(self, idx, hadm, admit, disch, died, kind, rows, y, p, short, chronic):
        subj = self.patients["subject_id"].to_numpy()[idx]
        self.out["admissions"].append(pd.DataFrame({
            "subject_id": subj, "hadm_id": hadm, "admittime": admit, "dischtime": disch,
            "deathtime": np.where(died, disch, np.datetime64("NaT", "s")),
            "admission_type": kind,
            "insurance": np.where(self.rng.random(idx.size) < 0.5, "Medicare", "Other"),
            "hospital_expire_flag": died.astype(np.int64)}))
        for adm, itemid, t_h, val in rows:
            self.out["events"].append(pd.DataFrame({
                "subject_id": subj[adm], "hadm_id": hadm[adm], "itemid": np.int64(itemid),
                "charttime": admit[adm] + _hours(t_h), "valuenum": val.astype(float)}))
        truth = {"hadm_id": hadm}
        for o in spec.OUTCOMES:
            truth[o] = np.where(short, np.nan, p[o])
        self.out["truth"].append(pd.DataFrame(truth))

    def _diagnoses(self, idx, hadm, year, recorded, sepsis):
        rng, n = self.rng, idx.size
        v10 = year >= spec.ICD10_FROM_YEAR
        flags = [(recorded[:, j], spec.CODES[c]) for j, c in enumerate(spec.CHRONIC)]
        flags.append((sepsis, spec.CODES["sepsis"]))
        flags += [(rng.random(n) < 0.35, codes) for codes in spec.FILLER_CODES]
        frames = []
        for has, (icd9, icd10) in flags:
            rows = np.flatnonzero(has)
            frames.append(pd.DataFrame({
                "subject_id": self.patients["subject_id"].to_numpy()[idx[rows]], "hadm_id": hadm[rows],
                "icd_code": np.where(v10[rows], icd10, icd9),
                "icd_version": np.where(v10[rows], 10, 9).astype(np.int64)}))
        self.out["diagnoses"].append(pd.concat(frames, ignore_index=True))

    def _frames(self) -> dict[str, pd.DataFrame]:
        out = {k: pd.concat(v, ignore_index=True) for k, v in self.out.items()}
        dx = out["diagnoses"].sort_values(["hadm_id"], kind="stable").reset_index(drop=True)
        dx.insert(2, "seq_num", dx.groupby("hadm_id").cumcount().astype(np.int64) + 1)
        out["diagnoses"] = dx
        out["events"] = sort_events(out["events"])
        pat = self.patients[["subject_id", "gender", "anchor_age", "anchor_year"]].copy()
        deaths = out["admissions"].dropna(subset=["deathtime"]).groupby("subject_id")["deathtime"].min()
        pat["dod"] = pat["subject_id"].map(deaths).astype("datetime64[s]").dt.floor("D")
        out["patients"] = pat
        for name in ("admissions", "events"):
            for col in out[name].columns:
                if out[name][col].dtype.kind == "M":
                    out[name][col] = out[name][col].astype("datetime64[ns]")
        out["patients"]["dod"] = out["patients"]["dod"].astype("datetime64[ns]")
        return out if self.span is None else extract(out, self.span[1])


def later_span(later: LaterPeriod, main_end: pd.Timestamp) -> tuple[np.datetime64, np.datetime64]:
    """Start and end (the extract time) of the later period: from later.start, else from the first of the
    month after the main cohort's last discharge (so the extract holds the whole main cohort)."""
    first = pd.Timestamp(later.start) if later.start else (main_end + pd.offsets.MonthBegin(1)).normalize()
    end = first + pd.DateOffset(months=later.months)
    return np.datetime64(first.to_datetime64(), "s"), np.datetime64(end.to_datetime64(), "s")


def extract(tables: dict[str, pd.DataFrame], at: np.datetime64) -> dict[str, pd.DataFrame]:
    """The tables as an extract taken at `at` holds them: stays discharged by then (a stay still open is
    not in it yet), their events and diagnoses, and no death recorded after it."""
    adm = tables["admissions"]
    adm = adm[adm["dischtime"] <= at].reset_index(drop=True)
    out = {**tables, "admissions": adm}
    for name in ("events", "diagnoses", "truth"):
        out[name] = tables[name][tables[name]["hadm_id"].isin(adm["hadm_id"])].reset_index(drop=True)
    pat = tables["patients"].copy()
    pat.loc[pat["dod"] > at, "dod"] = pd.NaT
    out["patients"] = pat
    return out


class SyntheticPartitions:
    """The cohort as partitions of whole patients (consecutive subject ids, balanced sizes), readable in
    any order and any process: partition i has its own seed; every partition shares the outcome
    intercepts calibrated on the first, so reading partition i > 0 first generates partition 0 once."""

    def __init__(self, cfg: SourceConfig, observation_hours: int,
                 patients_per_partition: int = PARTITION_PATIENTS):
        self.cfg, self.obs_h = cfg, observation_hours
        self.k = -(-cfg.n_patients // patients_per_partition)
        self.intercepts: dict | None = None
        self.main_end: pd.Timestamp | None = None  # the main cohort's last discharge (the later period's start)

    def __len__(self) -> int:
        return self.k + (self.cfg.later is not None)  # the later period is one more partition, the last

    def prepare(self) -> None:
        """Calibrate now (before copies go to other processes), so no copy has to."""
        if self.intercepts is None and self.k > 1:
            self.read(0)

    def read(self, i: int) -> dict[str, pd.DataFrame]:
        if i > 0 and self.intercepts is None:
            self.read(0)
        if i == self.k:
            return self._later()
        first, end = self.cfg.n_patients * i // self.k, self.cfg.n_patients * (i + 1) // self.k
        rng = np.random.default_rng(self.cfg.seed if i == 0 else [self.cfg.seed, i])
        gen = _Generator(self.cfg, self.obs_h, rng, first, end - first, self.intercepts)
        tables = gen.run()
        self.intercepts = gen.intercepts
        return tables

    def _later(self) -> dict[str, pd.DataFrame]:
        """The later period: new patients (ids after the main cohort's), its own seed, the shared intercepts."""
        later = self.cfg.later
        assert later is not None
        unknown = sorted(set(later.assay) - set(spec.ITEM_BY_NAME)) + sorted(
            (set(later.outcome_odds) | set(later.outcome_noise)) - set(spec.OUTCOMES))
        if unknown:
            raise ConfigError(f"source.later names what the synthetic source does not have: {unknown} (items: "
                              f"{', '.join(spec.ITEM_BY_NAME)}; outcomes: {', '.join(spec.OUTCOMES)})")
        if self.main_end is None:
            self.main_end = pd.Timestamp(f"{self.cfg.start_year}-01-01") if later.start else max(
                self.read(i)["admissions"]["dischtime"].max() for i in range(self.k))
        rng = np.random.default_rng([self.cfg.seed, 1_000_003])
        gen = _Generator(self.cfg, self.obs_h, rng, self.cfg.n_patients, later.n_patients, self.intercepts, later,
                         later_span(later, self.main_end))
        return gen.run()


def partitions(cfg: SourceConfig, observation_hours: int, progress: Progress | None = None,
               patients_per_partition: int = PARTITION_PATIENTS) -> Iterator[dict[str, pd.DataFrame]]:
    """The cohort partition by partition, each a dict of tables patients, admissions, events, diagnoses
    (raw) and truth (true outcome probabilities).

    The first partition uses the config's seed, so a cohort that fits in one is what it always was.
    """
    parts = SyntheticPartitions(cfg, observation_hours, patients_per_partition)
    for i in range(len(parts)):
        tables = parts.read(i)
        if progress:
            progress(i + 1, len(parts))
        yield tables


def generate(cfg: SourceConfig, observation_hours: int, progress: Progress | None = None,
             patients_per_partition: int = PARTITION_PATIENTS) -> dict[str, pd.DataFrame]:
    """The whole cohort in memory: every partition's tables, concatenated."""
    return concat(partitions(cfg, observation_hours, progress, patients_per_partition))
