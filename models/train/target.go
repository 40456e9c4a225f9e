package train

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/models/policy"
)

// Target is the "train.target" setting: the operating target of the
// sequential policy as a whole, exactly one of precision (the least share
// of flagged deployments that are faulty) or false_alarms_per_healthy (the
// most healthy deployments flagged at any look, per healthy deployment).
// Setting one in a file replaces the default precision target: the keys
// given are the whole target.
type Target struct {
	Precision             float64 `yaml:"precision,omitempty" json:"precision,omitempty"`
	FalseAlarmsPerHealthy float64 `yaml:"false_alarms_per_healthy,omitempty" json:"false_alarms_per_healthy,omitempty"`
}

// Policy returns the target as the policy package takes it.
func (t Target) Policy() policy.Target { return policy.Target(t) }

// UnmarshalYAML decodes a target mapping in place of the default: a file
// that sets false_alarms_per_healthy does not also keep the default
// precision. Unknown keys are errors, as everywhere in the configuration.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: target must be a mapping with one key, precision or false_alarms_per_healthy", n.Line)
	}
	*t = Target{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *float64
		switch k.Value {
		case "precision":
			dst = &t.Precision
		case "false_alarms_per_healthy":
			dst = &t.FalseAlarmsPerHealthy
		default:
			return fmt.Errorf("line %d: field %s not found in train.target (precision or false_alarms_per_healthy)", k.Line, k.Value)
		}
		if err := v.Decode(dst); err != nil {
			return err
		}
	}
	return nil
}

// UnmarshalJSON decodes a target in place of the one held (train.json's
// config is decoded over the defaults).
func (t *Target) UnmarshalJSON(b []byte) error {
	type plain Target
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*t = Target(p)
	return nil
}

// retiredKey is a retired key of the train section: it accepts any value
// and remembers that it was set, so that validation names its replacement
// (with the file's line) rather than failing on an unknown field. It is
// never written.
type retiredKey struct{ set bool }

// UnmarshalYAML records that the key was set.
func (r *retiredKey) UnmarshalYAML(*yaml.Node) error {
	r.set = true
	return nil
}

// validateTarget checks train.target and refuses the retired per-look
// train.target_precision.
func (c Config) validateTarget() []error {
	var errs []error
	if c.TargetPrecision.set {
		errs = append(errs, config.Errorf("train.target_precision", "per-look targets were replaced by one target for the policy as a whole: "+
			"set train.target.precision (e.g. 0.95) or train.target.false_alarms_per_healthy, and remove target_precision"))
	}
	if err := c.Target.Policy().Validate(); err != nil {
		var path string
		switch {
		case c.Target.Precision != 0 && c.Target.FalseAlarmsPerHealthy == 0:
			path = "train.target.precision"
		case c.Target.FalseAlarmsPerHealthy != 0 && c.Target.Precision == 0:
			path = "train.target.false_alarms_per_healthy"
		default:
			path = "train.target"
		}
		errs = append(errs, config.Errorf(path, "%s", strings.TrimPrefix(err.Error(), "target: ")))
	}
	return errs
}
