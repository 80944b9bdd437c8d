"""`cmtl`: run the pipeline or any single flow from the shell. Bad input exits 2 with a plain message."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from flows.ops import show
from flows.ops.show import console
from flows.runtime.workspace import prepare, tracking_uri
from mtl_core.errors import CmtlError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="clinical-mtl: multi-outcome clinical prediction pipeline.")
err = Console(stderr=True)
DEFAULT_CONFIG = "configs/default.yaml"
ConfigOpt = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="pipeline config (YAML)")


def _quiet_user_errors() -> None:
    from prefect.logging.configuration import ensure_logging_setup

    from flows.ops import quiet

    ensure_logging_setup()  # later calls are no-ops, so the filters stay on these handlers
    quiet.install()


def _guard(fn):
    """Run a command: CmtlError -> message on stderr and exit code 2, no traceback."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CmtlError as exc:
            # escaped: "timestamp[us]" or "['a']" in a message is text, not rich markup
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper


def _setup(config: str, server: bool = True):
    """server: the command may start a temporary Prefect server (binding it imports Prefect's server
    module, 3-6 s, which a registry-only command running plain calls does without)."""
    cfg, ws = prepare(config)  # sets PREFECT_HOME before prefect is imported
    _quiet_user_errors()
    if server:
        from flows.runtime import children
        children.bind_temporary_server()  # a temporary Prefect server dies with this process, even by kill -9
    return cfg, ws


@contextmanager
def _stage(config: str, command: str, services: bool = True, server: bool = True):
    """A single writing stage: the workspace lock `cmtl run` takes (a second writer exits 2 naming the
    first), the tracking store checked when the stage uses it, and a full disk or SIGTERM reported as
    one line, as `cmtl run` does."""
    from flows.ops import reliability
    with reliability.exclusive(config, command, services):
        cfg, ws = _setup(config, server)
        with reliability.guarded(err, ws):
            yield cfg, ws


@app.command()
@_guard
def validate(config: str = ConfigOpt):
    """Check the config, its paths and the source against data_contracts/ (no Prefect, no MLflow, nothing written)."""
    from flows.ops.validate import describe
    from flows.ops.validate import validate as check
    console.print(describe(check(config)), soft_wrap=True, highlight=False, markup=False)


@app.command()
@_guard
def ingest(config: str = ConfigOpt,
           reread: bool = typer.Option(False, "--reread", help="read a database source again even when its "
                                                                "fingerprint is unchanged")):
    """Read the source, validate it against data_contracts/, write a lake snapshot."""
    with _stage(config, "cmtl ingest", services=False):
        from flows.ingest import ingest as flow
        snapshot = flow(config, reread=reread)
    console.print(f"lake snapshot: {snapshot}")


@app.command()
@_guard
def features(config: str = ConfigOpt,
             snapshot: str | None = typer.Option(None, help="lake snapshot folder (default: latest)")):
    """Build cohort features, labels and the patient-level split."""
    with _stage(config, "cmtl features", services=False):
        from flows.features import build_features
        built = build_features(config, snapshot)
    console.print(f"feature set: {built}")


@app.command()
@_guard
def export(config: str = ConfigOpt,
           layout: str = typer.Option(..., help="mimic_iv (hosp/, icu/) or omop (CDM tables)"),
           fmt: str = typer.Option("csv.gz", "--format", help="csv.gz or parquet (omop: also csv)"),
           out: str = typer.Option(..., "--out", help="folder to write (must not exist)")):
    """Write the config's synthetic cohort as a MIMIC-IV or OMOP CDM export, with truth.parquet beside it."""
    from mtl_core.config import load_config
    from mtl_core.errors import ConfigError
    from mtl_core.sources.export_mimic import write_mimic
    from mtl_core.sources.export_omop import write_omop

    cfg = load_config(config)
    writers = {"mimic_iv": write_mimic, "omop": write_omop}
    if cfg.source.kind != "synthetic" or layout not in writers:
        raise ConfigError(f"export writes a synthetic source's cohort in layout {' or '.join(writers)}; got "
                          f"source.kind '{cfg.source.kind}', --layout '{layout}'")
    if Path(out).exists():
        raise ConfigError(f"--out {out} exists: exports go to a new folder")
    try:
        folder = writers[layout](cfg.source, cfg.cohort.observation_hours, Path(out), fmt,
                                 progress=lambda done, total: err.print(f"partition {done} of {total}"))
    except ValueError as exc:  # an unknown format
        raise ConfigError(f"--format: {exc}") from None
    console.print(f"{layout} export: {folder}")


@app.command()
@_guard
def train(config: str = ConfigOpt,
          features_dir: str | None = typer.Option(None, "--features", help="feature set (default: latest)")):
    """Train the multi-task model (its own MLflow run)."""
    with _stage(config, "cmtl train"):
        from flows.train import train as flow
        model = flow(config, features_dir)
    console.print(f"model: {model}")


@app.command()
@_guard
def evaluate(config: str = ConfigOpt,
             model_dir: str | None = typer.Option(None, "--model", help="model folder (default: latest)")):
    """Per-outcome test AUROC of a trained model."""
    with _stage(config, "cmtl evaluate"):
        from flows.evaluate import evaluate as flow
        result = flow(config, model_dir=model_dir)
    show.report(result)
    show.operating_points(result)


@app.command()
@_guard
def promote(config: str = ConfigOpt,
            model_dir: str | None = typer.Option(None, "--model", help="model folder (default: latest)"),
            version: str | None = typer.Option(None, "--version",
                                                  help="judge this registered version instead of registering"),
            dry_run: bool = typer.Option(False, "--dry-run", help="print the verdict; register, tag and move nothing"),
            force: bool = typer.Option(False, "--force",
                                       help="promote whatever the gate says (audit-tagged with $USER and time)"),
            reason: str | None = typer.Option(None, "--reason", help="why (with --force), for the audit trail")):
    """Register an evaluated model as challenger and promote it to champion if it passes the gate."""
    from flows.runtime import direct
    plain = dry_run and direct.wanted()  # a dry run reads the registry only
    with _stage(config, "cmtl promote", server=not plain):
        from flows.compare import record_comparison
        from flows.promote import register_and_promote
        with direct.plain_calls(plain):
            verdict = register_and_promote(config, model_dir, version=version, dry_run=dry_run, force=force,
                                           actor=os.environ.get("USER"), reason=reason)
        if not dry_run:  # what changed since the champion it was judged against: comparison.md in its run
            record_comparison(config, verdict)
    show.verdict(verdict, config)


@app.command()
@_guard
def rollback(config: str = ConfigOpt,
             reason: str | None = typer.Option(None, "--reason", help="why, for the audit trail")):
    """Move the champion alias back to the previous champion (audit-tagged with $USER and time)."""
    from flows.runtime import direct
    with _stage(config, "cmtl rollback", server=not direct.wanted()):
        from flows.promote import rollback as flow
        with direct.plain_calls(direct.wanted()):  # one alias move: no Prefect server for it
            result = flow(config, actor=os.environ.get("USER"), reason=reason)
    name = result["model_name"]
    console.print(f"[bold green]{name}: champion moved back from v{result['from']} to v{result['to']}[/] "
                  f"(models:/{name}@champion), by {result['by']} at {result['at']}", soft_wrap=True,
                  highlight=False)


@app.command()
@_guard
def run(config: str = ConfigOpt,
        force: bool = typer.Option(False, "--force", help="retrain even when the lake snapshot, config and "
                                                          "code version equal the champion's (and read a "
                                                          "database source again)")):
    """The whole pipeline: ingest, features, train, evaluate, register and promote."""
    from flows.ops import reliability
    from flows.ops.validate import before_run
    before_run(config)  # config, paths and (small file sources) data, before any server starts
    # one run per workspace; a dead tracking store fails in seconds, before Prefect starts
    with reliability.exclusive(config):
        cfg, ws = _setup(config)
        reliability.tidy(cfg, ws, console)  # runs and folders left by killed processes
        from flows.pipeline import pipeline
        with reliability.guarded(err, ws):
            result = pipeline(config, force=force)
    if result.get("unchanged"):
        console.print(f"[bold]{result['reasons'][0]}[/]", soft_wrap=True, highlight=False)
        return
    show.report(result)
    show.operating_points(result)
    show.verdict(result, config)
    bin_dir = Path(sys.executable).parent
    console.print("\n[bold]Review[/]")
    from flows.tracking import experiment_page, run_experiment

    uri = tracking_uri(ws)
    served = uri.startswith(("http://", "https://"))  # a tracking server serves its own UI
    if not served:
        console.print(f"  MLflow UI:  {bin_dir / 'mlflow'} ui --backend-store-uri {uri} --port 5000",
                      soft_wrap=True, highlight=False)
    page = experiment_page(uri if served else "http://127.0.0.1:5000", run_experiment(cfg, ws, result["run_id"]))
    console.print(f"  {'MLflow UI:' if served else 'then open:'}  {page} (training runs; Models > "
                  f"{cfg.registry.model_name} for the versions)", soft_wrap=True, highlight=False)
    # the UI finds its API through PREFECT_SERVER_API_PORT; `--port` alone leaves it calling 4200
    console.print(f"  Prefect UI: PREFECT_HOME={ws / 'prefect'} PREFECT_SERVER_API_PORT=4200 "
                  f"{bin_dir / 'prefect'} server start  (another port: change PREFECT_SERVER_API_PORT)",
                  soft_wrap=True, highlight=False)


@app.command()
@_guard
def score(config: str = ConfigOpt,
          model: str = typer.Option("champion", "--model", help="alias (champion, challenger) or version number"),
          input_path: str = typer.Option(..., "--input", help="feature file to score (.csv or .parquet)"),
          output_path: str = typer.Option(..., "--output", help="predictions file (.csv or .parquet), or "
                                          "with --format meds a folder"),
          output_format: str = typer.Option("table", "--format", help="table: one file, a column per outcome; "
                                            "meds: <outcome>.parquet each in the MEDS prediction schema"),
          explain: int = typer.Option(0, "--explain", help="also the top K factors per outcome and row, in plain "
                                      "words (<outcome>_why_1..K columns)")):
    """Batch scoring: one probability per outcome for every row of a feature file."""
    from flows.runtime import direct
    _setup(config, server=not direct.wanted())
    from flows.score import score as flow
    with direct.plain_calls(direct.wanted()):  # registry and files only: no Prefect server unless asked
        result = flow(config, input_path, output_path, model, output_format, explain)
    console.print(f"wrote {result['rows']:,} predictions of {result['model_uri']} "
                  f"({', '.join(result['outcomes'])}) to {result['output']}", soft_wrap=True, highlight=False)
    drift = result.get("drift")
    if drift and drift["warn"]:
        console.print(f"[bold yellow]drift:[/] {', '.join(drift['drifted'])} beyond the thresholds "
                      f"(report: {result['output']}.drift.md)", soft_wrap=True, highlight=False)


@app.command()
@_guard
def monitor(config: str = ConfigOpt,
            model: str = typer.Option("champion", "--model", help="alias (champion, challenger) or version number"),
            snapshot: str | None = typer.Option(None, help="lake snapshot folder (default: ingest the source)"),
            after: str | None = typer.Option(None, help="only admissions after this date (the version's data "
                                             "cut-off; needed when its feature set is not in the workspace)"),
            as_of: str | None = typer.Option(None, "--as-of", help="when the snapshot was extracted (default: "
                                             "its latest admission or discharge)"),
            retrain: bool = typer.Option(False, "--retrain-if-degraded", help="run the pipeline on 'degraded'")):
    """Realised performance of the champion on admissions it has not seen, per outcome and time window."""
    with _stage(config, "cmtl monitor"):
        from flows.pipeline import monitor_pipeline
        result = monitor_pipeline(config, snapshot, model, after, as_of, retrain or None)
    show.monitoring(result)
    if result.get("retrained"):
        show.verdict(result["retrained"])


@app.command()
@_guard
def compare(a: str = typer.Argument(..., help="version (3, v3) or alias (champion, challenger)"),
            b: str = typer.Argument(..., help="version or alias to compare with A (differences are B - A)"),
            config: str = ConfigOpt,
            output: str | None = typer.Option(None, "--output", help="also write the Markdown report here")):
    """What changed between two registered versions: data, config, code, metrics with paired CIs."""
    from flows.runtime import direct
    _setup(config, server=not direct.wanted())
    from flows.compare import compare as flow
    with direct.plain_calls(direct.wanted()):  # reads the registry only: no Prefect server unless asked
        result = flow(config, a, b)
    if output:
        Path(output).write_text(result["markdown"])
    console.print(result["markdown"], soft_wrap=True, highlight=False, markup=False)


@app.command()
@_guard
def doctor(config: str = ConfigOpt):
    """Check the tracking store; close MLflow runs left RUNNING by killed processes (as FAILED) and
    remove temporary folders of writers that are gone."""
    cfg, ws = prepare(config)
    from flows.ops import reliability
    reliability.doctor(cfg, ws, console)


@app.command()
def up(prefect_port: int = typer.Option(4200, help="Prefect server (and UI) port"),
       mlflow_port: int = typer.Option(5000, help="MLflow tracking server (and UI) port"),
       backend: str = typer.Option(os.environ.get("CMTL_MLFLOW_BACKEND", "workspace"),
                                   help="MLflow store: workspace (the one `cmtl run` writes; default), auto "
                                        "(PostgreSQL if reachable), postgres, sqlite")):
    """Start a Prefect server, work pool + worker and an MLflow server, then deploy deployment.yaml."""
    from flows.ops import services
    services.main(["up", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port),
                   "--backend", backend])


@app.command()
def down():
    """Stop exactly the processes `cmtl up` / `make up` started (by their recorded PIDs)."""
    from flows.ops import services
    services.main(["down"])


def main() -> None:
    app()


if __name__ == "__main__":  # python -m flows.cli, as the cmtl script
    main()
