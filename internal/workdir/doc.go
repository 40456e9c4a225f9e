// Package workdir owns the work directory, the folder the stages exchange
// files through (docs/architecture.md, "Work directory"). It names every
// file (DeploysFile, FeaturesFile, ExtractFile, LabelsFile, LFReportFile,
// SplitFile, ModelDir with ModelFile and TrainFile, EvaluationDir) and has
// the one typed writer and the one typed reader of each: deploys.parquet
// (WriteDeploys, ReadDeploys), features_hH.parquet (CreateFeatures,
// ReadFeatures), extract.json (WriteExtract, ReadExtract), labels.parquet
// (WriteLabels, ReadLabels), lf_report.json (WriteLFReport, ReadLFReport),
// split.parquet (WriteSplit, ReadSplit) and train.json (WriteTrain,
// ReadTrain). Stages import this package, not each other, to read a file.
// Model files are LightGBM text (package models/lightgbm); evaluation's
// outputs are written by package evaluation under the names given here.
//
// Readers check a file's contract and name the file, and the row when there
// is one, in every error; a missing file gives an error satisfying
// errors.Is(err, fs.ErrNotExist). Writers write to a temporary name and
// rename (internal/atomicfile). The low-level column reading of flat
// Parquet files (Open, ReadColumns) is exported for tests and tools.
package workdir
