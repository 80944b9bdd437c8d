"""Flows `register_and_promote` and `rollback`: register a model version (alias challenger), gate the
champion alias, and record every verdict and manual action as version tags, promotion.md and an audit trail.

The champion alias is only ever overwritten, never deleted, so the registry always has a champion once it
has had one. The order of the registry writes keeps the champion history right if a step fails midway:
a promotion moves the alias before it appends to the history, a rollback rewrites the history first.
"""
from __future__ import annotations

import getpass
import socket
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import feature_set
from mtl_core.data.model_folder import ModelFolder
from mtl_core.errors import CmtlError
from mtl_core.evaluation.subgroups import check_subgroup_columns, subgroup_frame
from mtl_core.evaluation.unseen import Overlap, overlap_with
from mtl_core.gate import audit
from mtl_core.gate.promotion import Rules, Verdict, decide, gate, gather, parse_history, push_history, rollback_target
from mtl_core.reports.model_card import promotion_markdown
from mtl_core.reports.registry_view import rollback_note, verdict_tags, version_description, with_note

HISTORY = "cmtl.champion_history"
LAST_ACTION = "cmtl.audit.last_action"


def _actor(actor: str | None) -> str:
    """Who acts, for the audit tags: the given name, else the login name ($LOGNAME, $USER, ... or, as
    under a worker or cron without them, the account of this process), else the host; never "unknown"."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no such variable and no password-database entry
        return f"a process on host {socket.gethostname() or 'unnamed'}"


def _who(ws: Path, actor: str | None) -> str:
    """The OS user (or the given actor) and, against a tracking server, the MLflow account it used."""
    who, account = _actor(actor), tracking.account(ws)
    return f"{who} (MLflow account {account})" if account and account != who else who


def record_audit(cfg: Config, ws: Path, version: str, action: str, what: str, why: str, who: str,
                 when: str, description: str | None = None) -> str:
    """Append one entry to the audit trail: a registered-model tag cmtl.audit.<n> ("v<version>: <entry>";
    numbers never reused) and the version's entries as the last section of its description. Version
    tags stay the few a reviewer filters on."""
    text = audit.entry(action, who, when, what, why)
    model_tags = tracking.model_tags(cfg, ws)
    tracking.set_model_tags(cfg, ws, {audit.next_key(model_tags): f"v{version}: {text}"})
    mine = [e.split(": ", 1)[1] for e in audit.entries(model_tags) if e.startswith(f"v{version}: ")]
    if description is None:
        mv = tracking.model_version(cfg, ws, version)
        description = mv.description if mv is not None else ""
    tracking.describe_version(cfg, ws, version, audit.with_audit(description, [*mine, text]))
    return text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def resolve_model(cfg: Config, ws: Path, model_dir: str | None, version: str | None) -> ModelFolder:
    """The model folder to judge: a registered version's own folder, the one given, or the latest."""
    if version is None:
        return ModelFolder(model_dir) if model_dir else ModelFolder.latest(ws)
    if model_dir:
        raise CmtlError("give either a model folder or a registered version, not both")
    mv = tracking.model_version(cfg, ws, version)
    if mv is None:
        raise CmtlError(f"{cfg.registry.model_name} has no version {version}")
    folder = ModelFolder.of_run(ws, mv.run_id)
    if not folder.exists():
        raise CmtlError(f"{cfg.registry.model_name} v{version}: its model folder {folder} is not in this workspace")
    return folder


def champion_history(cfg: Config, ws: Path, current: str | None) -> list[str]:
    """Versions that became champion, oldest first, ending with the current champion. Registries from
    before the history tag existed are read from the versions' verdict tags."""
    history = parse_history(tracking.model_tags(cfg, ws).get(HISTORY))
    if not history:
        promoted = [v for v in tracking.model_versions(cfg, ws)
                    if str(v.tags.get("cmtl.verdict", "")).startswith("promoted")]
        history = [str(v.version) for v in sorted(promoted, key=lambda v: int(v.version))]
    return push_history(history, current) if current else history


@task(name="Register model version", cache_policy=NO_CACHE, **policy.TRACKING)
def register(cfg: Config, ws: Path, folder: ModelFolder) -> str:
    meta = folder.meta()
    version = tracking.register(cfg, ws, meta.model_uri, meta.run_id)
    with tracking.registry_lock(cfg, ws):  # the model's audit numbering is shared with promotions
        before = tracking.version_by_alias(cfg, ws, "challenger")
        tracking.set_alias(cfg, ws, "challenger", version)
        now = _now()
        tracking.tag_version(cfg, ws, version, {"cmtl.challenger_at": now})
        was = f"v{before.version}" if before is not None and str(before.version) != version else "none"
        record_audit(cfg, ws, version, "register", f"challenger {was} -> v{version}",
                     f"new model from run {meta.run_id}", _who(ws, None), now)
    return version


def recorded_aurocs(cfg: Config, ws: Path, champ, outcomes: list[str], features: str) -> dict | None:
    """The champion's logged test AUROCs, if its run was evaluated on this very feature set."""
    if tracking.run_tags(cfg, ws, champ.run_id).get("cmtl.feature_set") != features:
        return None
    metrics = tracking.run_metrics(cfg, ws, champ.run_id)
    return {o: metrics.get(f"test/auroc/{o}") for o in outcomes}


@task(name="Compare challenger with champion", cache_policy=NO_CACHE, **policy.TRACKING)
def judge(cfg: Config, ws: Path, folder: ModelFolder, version: str | None) -> tuple[Verdict, str | None]:
    """Score the challenger on its test rows and the champion on those of them neither model was fitted
    or tuned on (mtl_core/evaluation/unseen.py), then apply the gate. Too few such rows, or a champion
    whose split rows are unknown: not comparable, and the challenger is not promoted.

    A champion that cannot be loaded by this code (e.g. pickled by an older release) is compared
    through its recorded test AUROCs instead (point estimates, no paired CI), but only when those came
    from the same feature set (same snapshot, cohort, features and split); otherwise the challenger is
    not promoted.
    """
    rules, e = Rules.from_config(cfg.registry), cfg.evaluation
    meta = folder.meta()
    outcomes = meta.outcomes
    f, Y, _ = feature_set.test_split(meta.features_dir, outcomes)
    P = folder.estimator().predict_proba(f)
    evidence = dict(rules=rules, n_boot=e.n_boot, seed=cfg.train.seed, ci_level=e.ci_level, ece_bins=e.ece_bins,
                    thresholds=folder.thresholds(),
                    fairness_groups=subgroup_frame(f, e.subgroups)
                    if rules.needs_fairness or rules.warns_fairness else None)
    champ = tracking.version_by_alias(cfg, ws, "champion")
    if champ is None or str(champ.version) == version or champ.run_id == meta.run_id:
        heading = None if champ is None else f"v{champ.version} is already champion"
        return gate(gather(Y, P, outcomes, None, **evidence), rules, None, heading), None
    champ_folder = ModelFolder.of_run(ws, champ.run_id)
    overlap = overlap_with(f, champ_folder, rules.min_comparison_rows, f"v{champ.version}")
    if not overlap.comparable:
        verdict = gate(gather(Y, P, outcomes, {}, overlap=overlap, **evidence), rules, [], overlap.summary())
        return _rows(verdict, overlap), str(champ.version)
    try:
        model = tracking.load_model(cfg, ws, f"models:/{cfg.registry.model_name}/{champ.version}")
        Pc = model.predict(f.loc[overlap.unseen, meta.feature_columns])  # never its own training rows
        flags = {f"{c}_flag" for c in Pc.columns}  # the pyfunc puts a 0/1 flag beside each probability
        champion = {o: Pc[o].to_numpy(float) for o in Pc.columns if o not in flags}
    except Exception as exc:  # never replace a champion we cannot compare with
        recorded = recorded_aurocs(cfg, ws, champ, outcomes, Path(meta.features_dir).name)
        if recorded is None:
            reason = (f"champion v{champ.version} could not score this test set "
                      f"({type(exc).__name__}: {exc}) and has no recorded AUROCs on it")
            return Verdict(False, [reason[:500]]), str(champ.version)
        own = {x.outcome: x for x in gather(Y, P, outcomes, None, **evidence)}
        mine = {o: own[o].auroc for o in outcomes}
        ece = {o: own[o].ece for o in outcomes}
        ci = {o: own[o].auroc_ci for o in outcomes}
        return decide(mine, recorded, rules.auroc_margin, rules, ece, ci), str(champ.version)
    check_subgroup_columns(cfg.registry.subgroup_margins, f.columns)
    groups = subgroup_frame(f, list(rules.subgroup_margins)) if rules.subgroup_margins else None
    verdict = gate(gather(Y, P, outcomes, champion, groups, overlap=overlap, **evidence), rules, list(champion),
                   overlap.summary())
    return _rows(verdict, overlap), str(champ.version)


def _rows(verdict: Verdict, overlap: Overlap) -> Verdict:
    verdict.compared_rows = f"{overlap.rows:,} of {overlap.test_rows:,}" if overlap.known else "unknown"
    return verdict


@task(name="Record verdict and move the champion alias", cache_policy=NO_CACHE, **policy.TRACKING)
def record(cfg: Config, ws: Path, version: str, verdict: Verdict, compared_to: str | None, run_id: str,
           force: bool = False, actor: str | None = None, reason: str | None = None) -> bool | None:
    """Tag the version, log promotion.md to its run, and move the champion alias if it passed (or is
    forced). Every step is safe to repeat, so a retry after a transient failure finishes the job.
    None: the verdict is stale (judged against another champion); nothing was written."""
    before = tracking.version_by_alias(cfg, ws, "champion")
    before = None if before is None else str(before.version)
    if not force and before not in (compared_to, version):
        return None  # the champion moved while this version was judged: the flow judges it again
    history = champion_history(cfg, ws, before)  # read before this version's verdict tag exists
    promote = verdict.promote or force
    tags = verdict_tags(verdict, compared_to, _now())
    action = None
    if force:
        action = (f"force-promote v{version} by {_actor(actor)} at {_now()} (gate verdict: "
                  f"{'pass' if verdict.promote else 'rejected'}; champion before: v{before or 'none'})")
        tags.update({"cmtl.verdict": "promoted (forced)", "cmtl.audit.force-promote": action})
    tracking.tag_version(cfg, ws, version, tags)
    text = promotion_markdown(cfg.registry.model_name, version, verdict, compared_to, Rules.from_config(cfg.registry),
                              action=action)
    tracking.log_text(cfg, ws, run_id, text, "promotion.md")
    description = version_description(
        cfg.registry.model_name, version, verdict, compared_to, run_id,
        tracking.run_experiment(cfg, ws, run_id), action, explained=cfg.evaluation.explanations.enabled)
    now, who = _now(), _who(ws, actor)
    if promote:
        if before != version:
            tracking.set_alias(cfg, ws, "champion", version)  # overwrites the old alias in one write
        tracking.set_model_tags(cfg, ws, {HISTORY: ",".join(push_history(history, version)),
                                          LAST_ACTION: action or f"promote v{version} by {who} at {now} (gate passed)"})
    kind = "force-promote" if force else ("promote" if promote else "verdict")
    was = f"v{before}" if before else "none"
    what = (f"champion {was} -> v{version}" if promote and before != version
            else f"verdict {tags['cmtl.verdict']}" + ("" if promote else f", stays challenger (champion {was})"))
    why = (f"forced by hand ({reason or 'no reason given'}); gate " + ("passed" if verdict.promote else "rejected")
           if force else "gate")
    record_audit(cfg, ws, version, kind, what, f"{why}: {verdict.summary}"[:1500], who, now, description)
    get_run_logger().info("version %s %s", version, ("forced " if force else "") + verdict.summary)
    return promote


@flow(name="register_and_promote", log_prints=True)
def register_and_promote(config_path: str, model_dir: str | None = None, version: str | None = None,
                         dry_run: bool = False, force: bool = False, actor: str | None = None,
                         reason: str | None = None) -> dict:
    """Register the evaluated model as a new version (alias challenger) and promote it if it passes.

    version: judge an already registered version instead of registering the model folder.
    dry_run: judge and report only; nothing is registered, tagged or moved.
    force: promote whatever the gate says; the version gets an audit tag naming the action, user
    (actor, default $USER) and time.
    reason: why, for the audit trail of a forced promotion.
    """
    cfg, ws = prepare(config_path)
    if dry_run and force:
        raise CmtlError("--dry-run and --force exclude each other: a dry run changes nothing")
    folder = resolve_model(cfg, ws, model_dir, None if version is None else str(version))
    version = None if version is None else str(version)
    run_id = folder.meta().run_id
    if version is None and dry_run:  # a dry run names the version if this model is registered already
        version = next((str(v.version) for v in tracking.model_versions(cfg, ws) if v.run_id == run_id), None)
    elif version is None:
        version = register(cfg, ws, folder)
    for _ in range(3):  # concurrent pipelines: the verdict must be on the champion the alias moves from
        verdict, compared_to = judge(cfg, ws, folder, version)
        if dry_run:
            break
        with tracking.registry_lock(cfg, ws):  # one check-and-move at a time across processes
            promoted = record(cfg, ws, version, verdict, compared_to, run_id, force, actor, reason)
        if promoted is not None:
            break
    promoted = bool(promoted) if not dry_run else False
    return {"model_name": cfg.registry.model_name, "version": version, "model_dir": str(folder), "run_id": run_id,
            "promoted": promoted, "gate_passed": verdict.promote, "dry_run": dry_run, "forced": force,
            "reasons": verdict.reasons, "compared_to": compared_to,
            "outcome_status": verdict.outcome_status(),
            "checks": [c.__dict__ for c in verdict.checks]}


@task(name="Move the champion back to the previous champion", cache_policy=NO_CACHE, **policy.TRACKING)
def move_back(cfg: Config, ws: Path, actor: str | None = None, reason: str | None = None) -> dict:
    name = cfg.registry.model_name
    current = tracking.version_by_alias(cfg, ws, "champion")
    if current is None:
        raise CmtlError(f"{name} has no champion to roll back")
    now, who, cur = _now(), _who(ws, actor), str(current.version)
    target, history = rollback_target(champion_history(cfg, ws, cur), cur)
    if tracking.model_version(cfg, ws, target) is None:
        raise CmtlError(f"the previous champion v{target} of {name} no longer exists in the registry")
    action = f"rollback: champion v{cur} -> v{target} by {who} at {now}"
    tracking.set_model_tags(cfg, ws, {HISTORY: ",".join(history), LAST_ACTION: action})
    tracking.set_alias(cfg, ws, "champion", target)  # overwrites: never a moment without a champion
    tracking.tag_version(cfg, ws, cur, {"cmtl.audit.rollback": f"rolled back from this version to v{target} "
                                                               f"by {who} at {now}"})
    tracking.tag_version(cfg, ws, target, {"cmtl.audit.restored": f"champion again after rollback from v{cur} "
                                                                  f"by {who} at {now}"})
    for v, role, other in ((cur, "from", target), (target, "to", cur)):  # the pages agree with the aliases
        mv = tracking.model_version(cfg, ws, v)
        note = with_note(rollback_note(v, role, other, who, now), None if mv is None else mv.description)
        record_audit(cfg, ws, v, "rollback", f"champion v{cur} -> v{target}",
                     reason or "rollback by hand to the previous champion", who, now, note)
    get_run_logger().info(action)
    return {"model_name": name, "from": cur, "to": target, "by": who, "at": now, "history": history}


@flow(name="rollback", log_prints=True)
def rollback(config_path: str, actor: str | None = None, reason: str | None = None) -> dict:
    """Move the champion alias back to the previous champion (the champion history, a registered-model
    tag, is popped, so repeated rollbacks walk further back); audit tags name the user and time."""
    cfg, ws = prepare(config_path)
    with tracking.registry_lock(cfg, ws):  # not while a promotion reads and moves the champion
        return move_back(cfg, ws, actor, reason)
