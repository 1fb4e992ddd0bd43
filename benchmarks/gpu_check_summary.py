"""Collect the outputs of ``gpu_check.sh`` into one JSON document, with the pass/fail of each check."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _status(out: Path, name: str) -> dict:
    code, seconds = (out / f"{name}.status").read_text().split() if (out / f"{name}.status").exists() else ("-1", "0")
    entry = {"exit_status": int(code), "seconds": int(seconds)}
    if int(code) != 0 and (out / f"{name}.err").exists():
        entry["error"] = (out / f"{name}.err").read_text().strip().splitlines()[-5:]
    return entry


def _last_json(path: Path) -> dict | None:
    """The JSON document a benchmark printed (the last top-level object of its stdout)."""
    text = path.read_text() if path.exists() else ""
    start = text.rfind("\n{")
    start = 0 if text.startswith("{") and start < 0 else start + 1
    try:
        return json.loads(text[start:])
    except ValueError:
        return None


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def main() -> None:
    out = Path(sys.argv[1])
    result: dict = {"device": (out / "device.out").read_text().strip() if (out / "device.out").exists() else None}
    search = _lines(out / "search" / "metrics.jsonl")
    genotype_ok = False
    try:
        from rapdarts.space.genotype import load_genotype

        load_genotype(out / "search" / "genotype.json")
        genotype_ok = True
    except Exception as error:  # noqa: BLE001 - reported, not raised
        result["genotype_error"] = str(error)
    result["search"] = {**_status(out, "search"), "epochs": len(search), "genotype_valid": genotype_ok,
                        "loss_fell": bool(search) and search[-1]["train_loss"] < search[0]["train_loss"]}
    train = _lines(out / "train" / "metrics.jsonl")
    result["train"] = {**_status(out, "train"), "epochs": len(train),
                       "loss_fell": bool(train) and train[-1]["train_loss"] < train[0]["train_loss"],
                       "test_acc": train[-1]["test_acc"] if train else None}
    for name in ("search_step_fp32", "search_step_amp", "train_step_amp"):
        result[name] = {**_status(out, name), "result": _last_json(out / f"{name}.out")}
    table = out / "cuda-table.json"
    header = json.loads(table.read_text())["header"] if table.exists() else {}
    result["profile_cuda"] = {**_status(out, "profile_cuda"), "provider": header.get("provider"),
                              "held_out": (header.get("calibration") or {}).get("held_out"),
                              "noise_floor": header.get("noise_floor")}
    validation = out / "cuda-validation" / "validation.json"
    report = json.loads(validation.read_text()) if validation.exists() else {}
    result["validate_cuda"] = {**_status(out, "validate_cuda"), "agreement": report.get("agreement"),
                               "noise_floor": report.get("noise_floor")}
    result["passed"] = all(result[k]["exit_status"] == 0 for k in
                           ("search", "train", "search_step_fp32", "search_step_amp", "train_step_amp",
                            "profile_cuda", "validate_cuda")) \
        and result["search"]["genotype_valid"] and result["search"]["loss_fell"] and result["train"]["loss_fell"] \
        and result["profile_cuda"]["provider"] == "CUDAExecutionProvider"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
