#!/usr/bin/python3
"""Reference trainer for the Faultline GBDT benchmark (models/bench_test.go).

Reads a JSON job on stdin:
  {"train_x": PATH, "train_y": PATH, "n": N, "nf": F,
   "test_x": PATH, "n_test": M, "pred_out": PATH,
   "params": {xgboost params}, "num_round": R}
X files are raw little-endian float64, row-major (NaN = missing); y files raw
float64. Trains XGBoost (hist) and writes test probabilities to pred_out as raw
float64. Prints one JSON line: {"xgboost": version, "train_seconds": s,
"train_cpu_seconds": c} where s (wall) and c (process CPU time) cover DMatrix
construction and training (the Go side times binning and training likewise). Needs only numpy and xgboost (Debian python3-xgboost).
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def main():
    job = json.load(sys.stdin)
    n, nf = job["n"], job["nf"]
    x = np.fromfile(job["train_x"], dtype="<f8").reshape(n, nf)
    y = np.fromfile(job["train_y"], dtype="<f8")
    xt = np.fromfile(job["test_x"], dtype="<f8").reshape(job["n_test"], nf)
    params = dict(job["params"])
    params.setdefault("base_score", float(y.mean()))
    t0, c0 = time.perf_counter(), time.process_time()
    d = xgb.DMatrix(x, label=y, missing=np.nan, nthread=params.get("nthread", 1))
    booster = xgb.train(params, d, num_boost_round=job["num_round"])
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    p = booster.predict(xgb.DMatrix(xt, missing=np.nan))
    p.astype("<f8").tofile(job["pred_out"])
    print(json.dumps({"xgboost": xgb.__version__, "train_seconds": secs, "train_cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
