"""The only package that talks to MLflow (with flows/pyfunc_model.py, the logged model's own code):
store.py (the store and the client), runs.py (runs, metrics, artifacts, dataset inputs), models.py (the
pyfunc model), registry.py (versions, aliases, tags, the promotion lock) and links.py (where a reviewer
finds a run). Callers use `from flows import tracking` and `tracking.<name>`."""
from flows.tracking.links import (  # noqa: F401
    experiment_page,
    run_link,
    ui_url,
)
from flows.tracking.models import (  # noqa: F401
    input_example,
    link_model_version,
    load_model,
    log_pyfunc,
    predict,
    signature,
)
from flows.tracking.registry import (  # noqa: F401
    _next_step,
    describe_version,
    find_version,
    model_tags,
    model_version,
    model_versions,
    parse_reference,
    register,
    registry_lock,
    set_alias,
    set_model_tags,
    tag_version,
    version_by_alias,
)
from flows.tracking.runs import (  # noqa: F401
    end_run,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_datasets,
    log_history,
    log_metrics,
    log_series,
    log_text,
    metric_name,
    read_artifact_text,
    run_experiment,
    run_metrics,
    run_record,
    run_started,
    run_tags,
    running_runs,
    set_run_tag,
    start_run,
)
from flows.tracking.store import (  # noqa: F401
    _READY,
    _READY_LOCK,
    DATABASE_SCHEMES,
    EXPERIMENT_KIND,
    PG_INIT_KEY,
    REQUIREMENTS,
    ROOT,
    _creation_lock,
    account,
    client,
    ensure_store,
    experiment_id,
)
