// Package xgbref runs XGBoost 1.7 (Debian python3-xgboost via
// /usr/bin/python3 and scripts/bench_xgboost.py) as the reference trainer of
// the GBDT benchmarks. Benchmarks only: the product never uses XGBoost.
package xgbref

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// Python is the interpreter that has Debian's python3-xgboost.
const Python = "/usr/bin/python3"

// Available reports whether XGBoost and numpy import, with the version or the reason.
func Available() (bool, string) {
	out, err := exec.Command(Python, "-c", "import xgboost, numpy; print(xgboost.__version__)").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("%s cannot import xgboost and numpy (install Debian python3-xgboost): %v: %s", Python, err, bytes.TrimSpace(out))
	}
	return true, string(bytes.TrimSpace(out))
}

// Script returns the path of scripts/bench_xgboost.py, found from this source file.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "bench_xgboost.py")
}

// Job is a prepared dataset in a temporary folder.
type Job struct {
	Dir         string
	N, NTest, F int
}

// Prepare writes the training table (column-major cols, targets y) and the
// test table as raw little-endian float64, row-major, for numpy.fromfile.
func Prepare(dir string, cols [][]float64, y []float64, testCols [][]float64) (*Job, error) {
	j := &Job{Dir: dir, F: len(cols)}
	if len(cols) > 0 {
		j.N = len(cols[0])
	}
	if len(testCols) > 0 {
		j.NTest = len(testCols[0])
	}
	if err := writeRowMajor(filepath.Join(dir, "train_x.f64"), cols); err != nil {
		return nil, err
	}
	if err := writeFloats(filepath.Join(dir, "train_y.f64"), y); err != nil {
		return nil, err
	}
	if err := writeRowMajor(filepath.Join(dir, "test_x.f64"), testCols); err != nil {
		return nil, err
	}
	return j, nil
}

func writeRowMajor(path string, cols [][]float64) error {
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	buf := make([]byte, 0, n*len(cols)*8)
	for i := 0; i < n; i++ {
		for f := range cols {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(cols[f][i]))
		}
	}
	return os.WriteFile(path, buf, 0o644)
}

func writeFloats(path string, v []float64) error {
	buf := make([]byte, 0, len(v)*8)
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
	}
	return os.WriteFile(path, buf, 0o644)
}

// Result is one reference run.
type Result struct {
	Pred []float64 // test probabilities
	// Seconds and CPUSeconds are the wall and process CPU time of building the DMatrix and training.
	Seconds, CPUSeconds float64
}

// Train runs XGBoost with params for rounds.
func (j *Job) Train(params map[string]any, rounds int) (*Result, error) {
	job := map[string]any{
		"train_x": filepath.Join(j.Dir, "train_x.f64"), "train_y": filepath.Join(j.Dir, "train_y.f64"),
		"n": j.N, "nf": j.F, "test_x": filepath.Join(j.Dir, "test_x.f64"), "n_test": j.NTest,
		"pred_out": filepath.Join(j.Dir, "pred.f64"), "params": params, "num_round": rounds,
	}
	in, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Python, Script())
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("xgboost reference: %v: %s", err, stderr.String())
	}
	var res struct {
		Secs float64 `json:"train_seconds"`
		CPU  float64 `json:"train_cpu_seconds"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("xgboost reference output %q: %v", out, err)
	}
	b, err := os.ReadFile(filepath.Join(j.Dir, "pred.f64"))
	if err != nil {
		return nil, err
	}
	pred := make([]float64, len(b)/8)
	for i := range pred {
		pred[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return &Result{Pred: pred, Seconds: res.Secs, CPUSeconds: res.CPU}, nil
}

// CPUTime returns the CPU time (user + system) this process has used so far.
func CPUTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
