package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/evaluation"
	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/simulate"
	"github.com/faultline-dev/faultline/labeling"
	"github.com/faultline-dev/faultline/models/train"
	"github.com/faultline-dev/faultline/pipeline"
	"github.com/faultline-dev/faultline/registry"
)

// settings are the sections of --config laid over their defaults and
// checked as a whole before any command runs (loadSettings): commands read
// their settings here instead of decoding sections themselves.
type settings struct {
	Run      pipeline.Config
	Simulate simulate.Config
	Features features.Config
	Labeling labeling.Config
	Train    train.Config
	Evaluate evaluation.Config
	Registry registry.Config
}

// runSections are the sections 'faultline run' records with each run: the
// ones its stages read.
var runSections = []string{"run", "features", "labeling", "train", "evaluate", "registry"}

// section is one top-level key of the file and where it is decoded.
type section struct {
	name string
	dst  any
}

func (s *settings) sections() []section {
	return []section{
		{"run", &s.Run}, {"simulate", &s.Simulate}, {"features", &s.Features}, {"labeling", &s.Labeling},
		{"train", &s.Train}, {"evaluate", &s.Evaluate}, {"registry", &s.Registry},
	}
}

func defaultSettings() *settings {
	return &settings{
		Run: pipeline.DefaultConfig(), Simulate: simulate.DefaultConfig(), Features: features.DefaultConfig(),
		Labeling: labeling.DefaultConfig(), Train: train.DefaultConfig(), Evaluate: evaluation.DefaultConfig(),
		Registry: registry.DefaultConfig(),
	}
}

// retiredKeys are settings that were removed, with the one that replaced
// each: a file still setting one is an error naming the new key.
var retiredKeys = map[string]string{
	// The ensemble horizon is one setting for labeling, training and
	// evaluation.
	"labeling.statistical_ensemble.horizon_minutes": "features.ensemble_horizon",
	"train.ensemble_horizon":                        "features.ensemble_horizon",
	"evaluate.baseline_minutes":                     "features.ensemble_horizon",
}

// loadSettings decodes every section of f over the defaults and checks the
// whole: retired, unknown and mistyped keys, unknown sections, value ranges
// of every section, and the rules between sections. Errors name the file
// and line; the caller exits with code 2.
func loadSettings(f *config.File) (*settings, error) {
	if err := f.Retired(retiredKeys); err != nil {
		return nil, err
	}
	s := defaultSettings()
	for _, sec := range s.sections() {
		if err := f.Section(sec.name, sec.dst); err != nil {
			return nil, err
		}
	}
	if u := f.Unused(); len(u) > 0 {
		known := make([]string, 0, len(s.sections()))
		for _, sec := range s.sections() {
			known = append(known, sec.name)
		}
		return nil, fmt.Errorf("%s: unknown configuration sections: %s (the sections are %s)", f.Path(), strings.Join(u, ", "), strings.Join(known, ", "))
	}
	s.shareEnsembleHorizon()
	if err := f.Locate(s.validate()); err != nil {
		return nil, err
	}
	return s, nil
}

// shareEnsembleHorizon passes features.ensemble_horizon, the one setting of
// the ensemble horizon, to the stages that read the ensemble verdict.
func (s *settings) shareEnsembleHorizon() {
	h := s.Features.EnsembleHorizon
	s.Labeling = s.Labeling.WithEnsembleHorizon(h)
	s.Train.EnsembleHorizon = h
	s.Evaluate.BaselineMinutes = h
}

// validate checks every section and the rules between sections. Every
// problem is a *config.FieldError (joined), located by the caller.
func (s *settings) validate() error {
	sim := s.Simulate.Validate()
	if inner := errors.Unwrap(sim); inner != nil { // "simulate config: " around the joined problems
		sim = inner
	}
	errs := []error{
		s.validateRun(),
		config.InSection("simulate", sim),
		config.InSection("features", s.Features.Validate()),
		s.Labeling.Validate(),
		s.Train.Validate(),
		s.Evaluate.Validate(),
		config.InSection("registry", s.Registry.Validate()),
	}
	if s.Features.Validate() == nil { // rules between sections, on valid feature settings
		errs = append(errs,
			config.WithAlso(config.InSection("features", s.Features.CheckEnsembleHorizon()), "features.horizons"),
			s.Labeling.CheckFeatures(s.Features),
			s.Train.CheckFeatures(s.Features))
	}
	return errors.Join(errs...)
}

// validateRun checks section "run" (flags checked later may override it).
func (s *settings) validateRun() error {
	var errs []error
	if s.Run.Source != train.LabelsWeak && s.Run.Source != train.LabelsEnsemble {
		errs = append(errs, config.Errorf("run.source", "must be weak or ensemble, not %q", s.Run.Source))
	}
	for _, t := range []struct{ key, v string }{{"run.from", s.Run.From}, {"run.until", s.Run.Until}} {
		if _, err := parseTime(t.v); err != nil {
			errs = append(errs, config.Errorf(t.key, "%v", err))
		}
	}
	return errors.Join(errs...)
}

// timeLayouts are the forms of --from, --until, run.from and run.until.
var timeLayouts = []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"}

// parseTime accepts RFC 3339 timestamps and plain dates (UTC); "" is the
// zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-06-01T07:10:00Z) or a date (2026-06-01)", s)
}
