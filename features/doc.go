// Package features computes point-in-time features of one deployment at a
// horizon H minutes after its start: the statistical checks of the new
// version (impact, temporal correlation, persistence), the unanimous-vote
// ensemble, the signals around them (new error signatures, latency,
// traffic, seasonality, fleet control, deploy context), and the
// before/after checks of the whole service against its own past, for
// changes without a canary (calibrated by replay at pseudo-change points;
// beforeafter.go).
//
// The package is pure computation: no I/O and no dependency on a history
// store, so that online detectors import it and compute exactly what the
// offline extractor (package features/extract) computed for training.
//
// A caller gathers what it holds about a deploy in an Input and calls
// NewWindow, which cuts everything at start+H (data of later minutes, later
// deploys, a rollout end after the cut), then Compute, which returns a
// vector ordered as Schema. docs/features.md defines every column.
// NewWindows builds the windows of several horizons at once, bit for bit
// the same, sharing the work they have in common (the before/after view
// is cut once, and so are its log-scale series and seasonally adjusted
// values: the log scale's ε is taken from the minutes before the change's
// clock time, the same at every horizon); a Cutter does so reusing its
// buffers from deploy to deploy, as the offline extractor does.
package features
