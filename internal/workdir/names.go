package workdir

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Names of the work-directory files (docs/architecture.md, "Work
// directory"). Paths inside the folder use the operating system's separator
// (filepath); join them with the folder.
const (
	// DeploysFile is written by extract: one row per deployment in range.
	DeploysFile = "deploys.parquet"
	// ExtractFile is written by extract: schema, horizons and counts.
	ExtractFile = "extract.json"
	// LabelsFile is written by label: weak labels and votes.
	LabelsFile = "labels.parquet"
	// LFReportFile is written by label: the labeling functions' diagnostics.
	LFReportFile = "lf_report.json"
	// SplitFile is written by train: the time split.
	SplitFile = "split.parquet"
	// ModelsDir holds one folder per label source (ModelDir).
	ModelsDir = "models"
	// TrainFile is written by train into ModelDir(source).
	TrainFile = "train.json"
	// AnnotateFile is written by train into ModelDir("weak"): the
	// validation deploys the threshold choice could not judge, to annotate
	// (annotations.csv import format).
	AnnotateFile = "annotate.csv"
	// EvaluationDir receives the evaluate stage's outputs.
	EvaluationDir = "evaluation"
	// MetricsFile, SummaryFile and ReportFile are the evaluate stage's
	// outputs in EvaluationDir.
	MetricsFile = "metrics.json"
	SummaryFile = "summary.md"
	ReportFile  = "report.html"
)

const (
	featuresPrefix, featuresSuffix = "features_h", ".parquet"
	modelPrefix, modelSuffix       = "model_h", ".txt"
)

// FeaturesFile is the name of the features file of horizon h minutes,
// features_hH.parquet.
func FeaturesFile(h int) string { return featuresPrefix + strconv.Itoa(h) + featuresSuffix }

// FeaturesHorizon returns the horizon of a features file name
// (features_hH.parquet), and false for any other name.
func FeaturesHorizon(name string) (int, bool) {
	return horizonOf(name, featuresPrefix, featuresSuffix)
}

// ModelFile is the name of the model file of horizon h minutes in
// ModelDir(source), model_hH.txt (LightGBM text, package models/lightgbm).
// registry/bundle names the models of a bundle the same way with its own
// constant: it stays free of this package's Parquet dependency.
func ModelFile(h int) string { return modelPrefix + strconv.Itoa(h) + modelSuffix }

// ModelHorizon returns the horizon of a model file name (model_hH.txt), and
// false for any other name.
func ModelHorizon(name string) (int, bool) {
	return horizonOf(name, modelPrefix, modelSuffix)
}

// ModelDir is the folder, relative to the work directory, of the models
// trained on one label source ("weak" or "ensemble"): models/SOURCE.
func ModelDir(source string) string { return filepath.Join(ModelsDir, source) }

// EvaluationFile is the path, relative to the work directory, of one of
// the evaluate stage's outputs (MetricsFile, SummaryFile, ReportFile).
func EvaluationFile(name string) string { return filepath.Join(EvaluationDir, name) }

// horizonOf parses prefix + decimal digits + suffix.
func horizonOf(name, prefix, suffix string) (int, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok || s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	h, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return h, true
}
