package features

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SchemaInfo identifies the features a model was trained on: this build's
// schema (version, hash, column names) and the settings the features were
// computed with, so that a detector computes them exactly as the training
// data was. Registered versions and export bundles record it;
// registry/bundle.Schema has the same fields and converts from it
// (bundle.Schema(info)).
type SchemaInfo struct {
	// Version is SchemaVersion.
	Version string
	// Hash is SchemaHash().
	Hash string
	// Names are the feature columns in order (Names()).
	Names []string
	// ConfigHash is the settings' Config.ConfigHash(); empty without
	// settings.
	ConfigHash string
	// Config holds the settings as JSON; nil without settings.
	Config json.RawMessage
}

// DescribeSchema returns this build's schema with the feature settings cfg
// recorded.
func DescribeSchema(cfg Config) (SchemaInfo, error) {
	s := SchemaInfo{Version: SchemaVersion, Hash: SchemaHash(), Names: Names()}
	b, err := json.Marshal(cfg)
	if err != nil {
		return s, fmt.Errorf("encode feature settings: %w", err)
	}
	s.Config, s.ConfigHash = b, cfg.ConfigHash()
	return s, nil
}

// DecodeConfig decodes feature settings recorded as JSON (SchemaInfo.Config)
// onto the defaults. A setting added after such a record could have been
// written takes, when the record lacks it, the value that computes the
// features the record's model was trained on, not today's default:
// before_after.reference_weeks is 0 (the daily seasonal reference) and
// before_after.reference_statistic empty (the mean of the reference days),
// so that bundles recorded before them load and judge as they were trained
// (their config_hash still matches).
func DecodeConfig(raw []byte) (Config, error) {
	cfg := DefaultConfig()
	var probe struct{ BeforeAfter map[string]json.RawMessage }
	if err := json.Unmarshal(raw, &probe); err != nil {
		return cfg, err
	}
	if !hasKey(probe.BeforeAfter, "ReferenceWeeks") {
		cfg.BeforeAfter.ReferenceWeeks = 0
	}
	if !hasKey(probe.BeforeAfter, "ReferenceStatistic") {
		cfg.BeforeAfter.ReferenceStatistic = "" // the mean
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// hasKey reports whether m has key k, matched as encoding/json matches
// field names (case-insensitively).
func hasKey(m map[string]json.RawMessage, k string) bool {
	for key := range m {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}
