package labeling

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/internal/config"
)

// validateGroups checks labeling.model.groups against the labeling
// functions: every name must be one (built-in, enabled or not, or an SQL
// function), or the label model would drop it without a word and fit the
// group without it; and no function may be in two groups. Disabled
// functions are accepted: they leave their group when the model is fitted.
func (c *Config) validateGroups() error {
	known := map[string]bool{}
	for _, f := range registry {
		known[f.Name()] = true
	}
	for _, f := range c.Functions {
		known[f.Name()] = true
	}
	for _, f := range c.SQLFunctions {
		known[f.Name] = true
	}
	var errs []error
	in := map[string]int{} // function -> its group
	for i, g := range c.Model.Groups {
		for j, name := range g {
			path := fmt.Sprintf("labeling.model.groups[%d][%d]", i, j)
			if !known[name] {
				names := make([]string, 0, len(known))
				for n := range known {
					names = append(names, n)
				}
				slices.Sort(names)
				errs = append(errs, config.Errorf(path, "%q is not a labeling function (the functions: %s)", name, strings.Join(names, ", ")))
				continue
			}
			if k, dup := in[name]; dup {
				errs = append(errs, config.Errorf(path, "function %q is already in groups[%d]: a function may be in one group only", name, k))
				continue
			}
			in[name] = i
		}
	}
	return errors.Join(errs...)
}
