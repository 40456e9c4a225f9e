package pipeline

import (
	"testing"

	"github.com/faultline-dev/faultline/registry"
)

func TestRecordRegistered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		notes map[string]string // of the register stage; nil: no such stage
		want  registry.Ref
		ok    bool
	}{
		{"no register stage", nil, registry.Ref{}, false},
		{"no version", map[string]string{NoteModel: "m"}, registry.Ref{}, false},
		{"version not a number", map[string]string{NoteModel: "m", NoteVersion: "v3"}, registry.Ref{}, false},
		{"registered", map[string]string{NoteModel: "faultline", NoteVersion: "3"}, registry.Ref{Name: "faultline", Version: 3}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Record{Stages: []*StageRecord{{Name: StageExtract}}}
			if tc.notes != nil {
				r.Stages = append(r.Stages, &StageRecord{Name: StageRegister, Notes: tc.notes})
			}
			got, err := r.Registered()
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("Registered() = %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}
