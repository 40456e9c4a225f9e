package history

// AnnotationCSVColumns are the columns of annotations.csv, the import
// format of annotations (docs/history-import.md), in order: the files
// Faultline writes for people to annotate (evaluate's queue, train's
// annotate.csv) start with them, label, annotator, annotated_at and note
// left for the reviewer.
var AnnotationCSVColumns = []string{"deployment_id", "label", "annotator", "annotated_at", "note"}

// GoldLabels reduces annotations to one verdict per deployment: the majority
// of annotators; a tie goes to the latest annotation (then the greatest
// annotator name, for determinism). Annotations with another label than
// LabelFaulty or LabelHealthy are ignored. Evaluation and the registry's
// promotion evidence both judge against these labels.
func GoldLabels(anns []Annotation) map[string]bool {
	type tally struct {
		faulty, healthy int
		latest          Annotation
	}
	by := map[string]*tally{}
	for _, a := range anns {
		if a.Label != LabelFaulty && a.Label != LabelHealthy {
			continue
		}
		t := by[a.DeploymentID]
		if t == nil {
			t = &tally{latest: a}
			by[a.DeploymentID] = t
		}
		if a.Label == LabelFaulty {
			t.faulty++
		} else {
			t.healthy++
		}
		if a.AnnotatedAt.After(t.latest.AnnotatedAt) || (a.AnnotatedAt.Equal(t.latest.AnnotatedAt) && a.Annotator > t.latest.Annotator) {
			t.latest = a
		}
	}
	out := make(map[string]bool, len(by))
	for id, t := range by {
		switch {
		case t.faulty > t.healthy:
			out[id] = true
		case t.healthy > t.faulty:
			out[id] = false
		default:
			out[id] = t.latest.Label == LabelFaulty
		}
	}
	return out
}
