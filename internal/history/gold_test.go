package history

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// GoldLabels: majority of annotators, the latest on ties (then the greatest
// annotator name); other labels are ignored.
func TestGoldLabels(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		anns []Annotation
		want map[string]bool
	}{
		{"majority faulty", []Annotation{
			{DeploymentID: "a", Label: LabelFaulty, Annotator: "x", AnnotatedAt: at(1)},
			{DeploymentID: "a", Label: LabelFaulty, Annotator: "y", AnnotatedAt: at(2)},
			{DeploymentID: "a", Label: LabelHealthy, Annotator: "z", AnnotatedAt: at(3)},
		}, map[string]bool{"a": true}},
		{"tie goes to the latest", []Annotation{
			{DeploymentID: "b", Label: LabelFaulty, Annotator: "x", AnnotatedAt: at(1)},
			{DeploymentID: "b", Label: LabelHealthy, Annotator: "y", AnnotatedAt: at(2)},
		}, map[string]bool{"b": false}},
		{"tie at the same time goes to the greatest annotator", []Annotation{
			{DeploymentID: "c", Label: LabelHealthy, Annotator: "y", AnnotatedAt: at(1)},
			{DeploymentID: "c", Label: LabelFaulty, Annotator: "x", AnnotatedAt: at(1)},
		}, map[string]bool{"c": false}},
		{"other labels ignored", []Annotation{
			{DeploymentID: "d", Label: "unsure", Annotator: "x", AnnotatedAt: at(1)},
		}, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := GoldLabels(tt.anns); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GoldLabels = %v, want %v", got, tt.want)
			}
			// GoldVerdicts: the same verdicts, ties marked.
			v := GoldVerdicts(tt.anns)
			for id, want := range tt.want {
				if v[id].Faulty != want || v[id].Tie != strings.HasPrefix(tt.name, "tie") {
					t.Errorf("GoldVerdicts[%s] = %+v, want faulty %v, tie %v", id, v[id], want, strings.HasPrefix(tt.name, "tie"))
				}
			}
			if len(v) != len(tt.want) {
				t.Errorf("GoldVerdicts has %d deployments, want %d", len(v), len(tt.want))
			}
		})
	}
}
