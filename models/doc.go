// Package models holds Faultline's learners, pure Go and independent of the
// pipeline's stages:
//
//   - the gradient-boosted decision tree trainer for binary classification
//     (Train with Params on a column-major Data; Model predicts and exports
//     its trees as a LightGBM text model, MarshalLightGBM and
//     WriteLightGBMFile, through package models/lightgbm, so that
//     github.com/dmitryikh/leaves loads it and predicts bit for bit the same
//     raw scores; ReadLightGBMFile reads an exported model back);
//   - L2-regularised logistic regression (TrainLogReg with LogRegParams), the
//     baseline the GBDT is compared with.
//
// The train stage that uses them (config, time split, per-horizon models,
// train.json) is package models/train; the sequential policy and threshold
// choice are package models/policy; AUC and log-loss are in internal/metrics.
// docs/models.md describes the trainer and the exported format.
package models
