// Package evaluation judges the detectors a Faultline run produced: the
// unsupervised ensemble baseline, the sequential models trained on ensemble
// labels and on weak labels, and the production model when one is
// registered. It scores them on the same held-out deploys (split "test")
// against gold annotations, weak labels and, on simulated history, the
// simulator's truth; finds the deploys on which contenders disagree; ranks
// those for human annotation; and writes metrics.json, summary.md and a
// self-contained report.html (see docs/evaluation.md).
package evaluation
