// Package train is the train stage (`faultline train`, docs/models.md): from
// a work directory's deploys.parquet, features_hH.parquet and a label source
// (labels.parquet, or the statistical ensemble's verdict), it splits the
// deployments by time (split.parquet), trains one gradient-boosted model per
// horizon with package models, chooses each horizon's threshold for a
// target precision, measures the sequential policy (package models/policy)
// on the validation split, and writes models/SOURCE/model_hH.txt and
// models/SOURCE/train.json. Every file is named, read and written through
// package internal/workdir.
package train
