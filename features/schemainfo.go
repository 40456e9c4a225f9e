package features

import (
	"encoding/json"
	"fmt"
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
