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
// LabelFaulty or LabelHealthy are ignored. Evaluation, training, the
// labeling report and the registry's promotion evidence all judge against
// these labels.
func GoldLabels(anns []Annotation) map[string]bool {
	out := map[string]bool{}
	for id, v := range GoldVerdicts(anns) {
		out[id] = v.Faulty
	}
	return out
}

// Gold is one deployment's verdict by GoldLabels' rule; Tie reports that
// its annotators split evenly and the latest annotation decided.
type Gold struct {
	Faulty bool
	Tie    bool
}

// GoldVerdicts is GoldLabels with the ties marked.
func GoldVerdicts(anns []Annotation) map[string]Gold {
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
	out := make(map[string]Gold, len(by))
	for id, t := range by {
		switch {
		case t.faulty > t.healthy:
			out[id] = Gold{Faulty: true}
		case t.healthy > t.faulty:
			out[id] = Gold{}
		default:
			out[id] = Gold{Faulty: t.latest.Label == LabelFaulty, Tie: true}
		}
	}
	return out
}
