"""What a Dask process has: Python, Dask, durable_rules, which Vigil, and whether it
sees the input files as the client does.

``describe`` is sent to the workers and the scheduler by value (this module is
registered with cloudpickle as such), so it runs where Vigil cannot be imported at all
and says so, rather than failing to unpickle. It imports nothing from Vigil at module
level.
"""
from __future__ import annotations


def describe(inputs: list | None = None) -> dict:
    """This process's versions, and which of ``inputs`` (file identities: path, size,
    mtime_ns) it does not see as given."""
    import hashlib
    import importlib
    import importlib.metadata
    import importlib.util
    import os
    import platform
    from pathlib import Path

    out: dict = {"python": platform.python_version(), "pid": os.getpid()}
    for name in ("dask", "distributed", "cloudpickle", "durable_rules"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    try:
        importlib.import_module("durable_rules_engine")
    except ImportError as exc:
        out["durable_rules"] = None
        out["durable_rules_error"] = str(exc)
    out["vigil"] = None
    try:
        spec = importlib.util.find_spec("app")
    except (ImportError, ValueError) as exc:
        spec, out["vigil_error"] = None, str(exc)
    package = Path(spec.origin).parent if spec is not None and spec.origin else None
    if package is None or not (package / "engine" / "runtime.py").is_file():
        out.setdefault("vigil_error", "no module named 'app' (Vigil's package) on this worker's path")
    else:
        # The code identity: every source file of the package, by path and content.
        digest = hashlib.sha256()
        for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".lark") and p.is_file()):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
        out["vigil"] = digest.hexdigest()
        out["vigil_path"] = str(package.parent)
        try:
            engine = importlib.import_module("app.engine")
            out["semantics"] = engine.SEMANTICS_VERSION
            # Which masking key this process is configured with (its id, never the key).
            keys = importlib.import_module("app.config").mask_keys(os.environ.get("VIGIL_MASK_KEY"))
            out["mask_key_id"] = importlib.import_module("app.engine.masking").key_id(keys[0]) if keys else None
        except Exception as exc:  # a broken install is reported, not raised
            out["vigil_error"] = f"importing Vigil's engine failed: {type(exc).__name__}: {exc}"
    missing = []
    for identity in inputs or []:
        try:
            st = os.stat(identity["path"])
        except OSError as exc:
            missing.append({"path": identity["path"], "problem": exc.strerror or str(exc)})
            continue
        if (st.st_size, st.st_mtime_ns) != (identity["size"], identity["mtime_ns"]):
            missing.append({"path": identity["path"], "problem": f"another file ({st.st_size} bytes, "
                                                                 f"modified at another time)"})
    out["inputs_missing"] = missing
    return out
