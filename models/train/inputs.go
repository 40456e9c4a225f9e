package train

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/faultline-dev/faultline/features"
	"github.com/faultline-dev/faultline/internal/workdir"
)

// inputs reads the work directory's files and records the SHA-256 of each
// one a model depends on (train.json's inputs_sha256).
type inputs struct {
	dir    string
	hashes map[string]string // file name → SHA-256
}

func newInputs(dir string) *inputs { return &inputs{dir: dir, hashes: map[string]string{}} }

func (in *inputs) path(name string) string { return filepath.Join(in.dir, name) }

// hash records the SHA-256 of the named file.
func (in *inputs) hash(name string) error {
	s, err := fileSHA256(in.path(name))
	if err != nil {
		return err
	}
	in.hashes[name] = s
	return nil
}

// labelSet holds the target of each labelled deployment: in [0, 1], soft
// for weak labels.
type labelSet map[string]float64

// labelSources says where weak targets came from.
type labelSources struct {
	// gold lists the deployments whose target is their human annotation.
	gold []string
	// abstained holds the deployments on which every labeling function
	// abstained and that take no annotation: their target is the label
	// model's estimate for all of them together, not evidence about each.
	abstained map[string]bool
	// lone maps the deployments labelled faulty on one function's vote
	// alone (no other faulty and no healthy vote), unannotated, to that
	// function: the label model weighs such a vote by the function's
	// agreement with the others, which says least where it votes alone.
	lone map[string]string
	// revised holds, per function, the revision of its lone votes' targets
	// where the annotations of the training and validation splits
	// contradict the label model (workdir.LoneRevision).
	revised map[string]workdir.LoneRevised
}

// readLabels reads the targets of a label source: p_faulty of
// labels.parquet for weak labels (deployments on which every function
// abstained only when keepAbstained), the ensemble's verdict at
// ensembleHorizon for ensemble labels (inconclusive rows left out). With
// weak labels and a non-nil annotated, a deployment for which annotated
// holds and that a human annotated (the gold column) takes the
// annotation, 1 or 0, as its target instead — also when every function
// abstained. And where those annotations contradict the label model's
// trust in one function's lone faulty votes (workdir.LoneRevision), its
// unannotated lone votes take the revised target.
func readLabels(dir, source string, ensembleHorizon int, keepAbstained bool, annotated func(id string) bool) (labels labelSet, src labelSources, err error) {
	labels = labelSet{}
	src.abstained, src.lone, src.revised = map[string]bool{}, map[string]string{}, map[string]workdir.LoneRevised{}
	switch source {
	case LabelsWeak:
		l, err := workdir.ReadLabels(filepath.Join(dir, workdir.LabelsFile))
		if err != nil {
			return nil, src, err
		}
		type tally struct {
			rows, annotated, faulty int
			p                       float64
		}
		lone := map[string]*tally{}
		for i, id := range l.IDs {
			g := l.Gold[i]
			gold := g != workdir.GoldNone && annotated != nil && annotated(id)
			fn, isLone := l.LoneFaulty(i)
			isLone = isLone && l.Label[i] == 1 && !math.IsNaN(l.PFaulty[i])
			if isLone {
				t := lone[fn]
				if t == nil {
					t = &tally{}
					lone[fn] = t
				}
				t.rows++
				t.p += l.PFaulty[i]
				if gold {
					t.annotated++
					if g == 1 {
						t.faulty++
					}
				}
			}
			if gold {
				labels[id] = float64(g)
				src.gold = append(src.gold, id)
				continue
			}
			if (l.Label[i] != -1 || keepAbstained) && !math.IsNaN(l.PFaulty[i]) {
				labels[id] = l.PFaulty[i]
				if l.Label[i] == -1 {
					src.abstained[id] = true
				}
				if isLone {
					src.lone[id] = fn
				}
			}
		}
		if annotated != nil {
			for fn, t := range lone {
				p := t.p / float64(t.rows)
				if r, ok := workdir.LoneRevision(p, t.faulty, t.annotated); ok {
					src.revised[fn] = workdir.LoneRevised{Deployments: t.rows, PFaulty: p, Annotated: t.annotated, AnnotatedFaulty: t.faulty, Target: r}
				}
			}
			for id, fn := range src.lone {
				if r, ok := src.revised[fn]; ok {
					labels[id] = r.Target
				}
			}
		}
	case LabelsEnsemble:
		name := workdir.FeaturesFile(ensembleHorizon)
		ft, err := workdir.ReadFeatures(filepath.Join(dir, name))
		if err != nil {
			return nil, src, err
		}
		ens := ft.Feature(features.EnsembleFaulty)
		if ens == nil {
			return nil, src, fmt.Errorf("%s: no column %s", name, features.Schema[features.EnsembleFaulty].Name)
		}
		inc := ft.Feature(features.Inconclusive)
		for i, id := range ft.IDs {
			if math.IsNaN(ens[i]) || inc != nil && inc[i] == 1 {
				continue
			}
			labels[id] = ens[i]
		}
	default:
		return nil, src, fmt.Errorf("train: unknown label source %q", source)
	}
	return labels, src, nil
}

// schema returns the feature schema version and hash of extract.json
// ("unknown" and "" without that file), and records its hash.
func (in *inputs) schema() (version, hash string, err error) {
	data, err := os.ReadFile(in.path(workdir.ExtractFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "unknown", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("train: %w", err)
	}
	in.hashes[workdir.ExtractFile] = sha256Hex(data)
	ex, err := workdir.ParseExtract(data)
	if err != nil {
		return "", "", fmt.Errorf("train: %s: %w", in.path(workdir.ExtractFile), err)
	}
	return ex.SchemaVersion, ex.SchemaHash, nil
}

// fileSHA256 is the SHA-256 (hex) of the file at path (workdir.Checksum).
func fileSHA256(path string) (string, error) {
	sum, _, err := workdir.Checksum(path)
	if err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	return sum, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
