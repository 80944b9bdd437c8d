"""The README's benchmark table is regenerated from bench/results/*.json by bench.readme_bench."""
import json
import shutil
import subprocess
import sys

from bench import readme_bench as rb

FIRST_WORDS = ["quality: registered model", "registered model vs best", "real cohorts:", "real cohort end to end",
               "real cohorts vs AutoGluon", "data efficiency,",
               "cost: one MTL model", "strategy table:", "scale: `cmtl ingest`", "scale: the whole `cmtl run`",
               "MEDS: `cmtl run`", "sources at scale:", "database: the", "Dask,", "features vs one DuckDB", "ingest validation",
               "default cohort,", "monitoring: `cmtl monitor`", "per-patient factors:", "a `cmtl run` on the default cohort"]


def test_table_has_every_row_and_matches_the_readme():
    block = rb.render()
    rows = [ln for ln in block.splitlines() if ln.startswith("| ") and not ln.startswith("| benchmark")]
    assert len(rows) == len(FIRST_WORDS)
    for row, words in zip(rows, FIRST_WORDS):
        assert row.startswith("| " + words)
    readme = rb.README.read_text()
    assert readme.count(rb.BEGIN) == 1 and readme.count(rb.END) == 1
    assert readme[readme.index(rb.BEGIN):readme.index(rb.END) + len(rb.END)] == block, \
        "README benchmark table is stale: run `python -m bench.readme_bench`"
    assert "python -m bench.readme_bench" in readme


def test_a_changed_result_changes_its_number(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(rb.RESULTS, results)
    cost = json.loads((results / "cost.json").read_text())
    before, cost_before = rb.render(results), cost["speedup"]
    assert f"| {cost_before:.2f}x " in before
    cost["speedup"] = 9.87
    (results / "cost.json").write_text(json.dumps(cost))
    after = rb.render(results)
    assert "| 9.87x " in after and f"| {cost_before:.2f}x " not in after
    assert [a for a, b in zip(after.splitlines(), before.splitlines()) if a != b] == \
        [ln for ln in after.splitlines() if ln.startswith("| cost:")]


def test_missing_result_leaves_its_row_out_and_rewrites_only_the_block(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(rb.RESULTS, results)
    (results / "cost.json").unlink()
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{rb.BEGIN}\nold\n{rb.END}\noutro\n")
    assert rb.main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "cost.json is missing" in capsys.readouterr().err
    assert "| cost:" not in text and "| quality:" in text
    assert text.startswith("intro\n") and text.endswith("\noutro\n")
    rb.main(["--results", str(results), "--readme", str(readme)])
    assert readme.read_text() == text  # idempotent


def test_imports_neither_prefect_nor_mlflow():
    code = "import sys, bench.readme_bench; assert not {'prefect', 'mlflow'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=rb.ROOT, check=True)


def test_make_run_section_keeps_the_borderless_per_outcome_table_and_the_boxed_one():
    from bench import readme_run

    out = "\n".join([
        "12:00:00.000 | INFO | a log line", "      Per-outcome test results", "",
        " outcome   prev.  test AUROC", " ───────────────────────", " aki       12.7%       0.775",
        "                 (0.752-0.798)", "", "   Alert threshold per outcome", "┏━━━━━━━━━┓", "┃ outcome ┃",
        "┡━━━━━━━━━┩", "│ aki     │", "└─────────┘", "", "v1 is now champion", "Review: mlflow ui ..."])
    text = readme_run.tables(out)
    assert text.splitlines()[:4] == [" outcome   prev.  test AUROC", " ───────────────────────",
                                     " aki       12.7%       0.775", "                 (0.752-0.798)"]
    assert "┃ outcome ┃" in text and "│ aki     │" in text and "v1 is now champion" in text
    assert "log line" not in text and "Review" not in text
