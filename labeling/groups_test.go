package labeling

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/internal/config"
)

// A name in labeling.model.groups that is no labeling function was dropped
// without a word (issue 14); it is a FieldError at its key path.
func TestGroupsNameFunctions(t *testing.T) {
	tests := []struct {
		name   string
		groups [][]string
		sql    []string
		paths  []string // of the errors, in order
	}{
		{"default", DefaultConfig().Model.Groups, nil, nil},
		{"disabled and SQL functions", [][]string{{FnRollback, "short_lived", "mine"}}, []string{"mine"}, nil},
		{"typo", [][]string{{FnRollback, "short_livd"}}, nil, []string{"labeling.model.groups[0][1]"}},
		{"SQL function not configured", [][]string{{FnRollback, "mine"}}, nil, []string{"labeling.model.groups[0][1]"}},
		{"two groups", [][]string{{FnRollback, "short_lived"}, {"healthy_evidence", FnRollback}}, nil, []string{"labeling.model.groups[1][1]"}},
		{"same group twice", [][]string{{FnRollback, FnRollback}}, nil, []string{"labeling.model.groups[0][1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Model.Groups = tc.groups
			for _, n := range tc.sql {
				c.SQLFunctions = append(c.SQLFunctions, SQLFunction{Name: n, SQL: "SELECT deployment_id, 1 FROM deployments"})
			}
			var paths []string
			for _, f := range config.Fields(c.Validate()) {
				paths = append(paths, f.Path)
			}
			if strings.Join(paths, " ") != strings.Join(tc.paths, " ") {
				t.Errorf("errors at %q, want %q (%v)", paths, tc.paths, c.Validate())
			}
		})
	}
}
