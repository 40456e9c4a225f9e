package history

import (
	"slices"
	"strings"
)

// CompareDeployments orders deployments by StartedAt, then by ID compared
// byte-wise (PostgreSQL's COLLATE "C"). It is the order of
// Reader.Deployments and what "earlier" means in InferKinds.
func CompareDeployments(a, b Deployment) int {
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// compareInStream orders deployments by stream (service, then environment),
// then by CompareDeployments.
func compareInStream(a, b Deployment) int {
	if c := strings.Compare(a.Service, b.Service); c != 0 {
		return c
	}
	if c := strings.Compare(a.Environment, b.Environment); c != 0 {
		return c
	}
	return CompareDeployments(a, b)
}

// InferKinds is the one rollback-inference rule of every history store
// (docs/schema.md, "Rollback inference").
//
// ds holds every stored deployment of one or more complete streams
// (service, environment pairs): a stream's kinds depend on all of its
// deployments, so a partial stream gives wrong answers. InferKinds sorts ds
// in place by service, environment, then CompareDeployments, and then, for
// each deployment whose kind was not given (Kind empty or KindInferred set):
//
//   - Kind becomes KindRollback when an earlier deployment of the same
//     stream (by CompareDeployments: earlier StartedAt, or the same StartedAt
//     and a smaller ID) has the same Version, whatever that deployment's
//     kind, given or inferred; otherwise KindDeploy;
//   - KindInferred becomes true.
//
// Deployments with a given kind (Kind set, KindInferred false) are never
// changed, but count as earlier deployments of their version. The result
// depends only on the set of deployments, not on the order in which they
// were imported. InferKinds returns the indexes (into the sorted ds) of the
// deployments whose Kind changed, an empty Kind counting as a change.
func InferKinds(ds []Deployment) (changed []int) {
	if !slices.IsSortedFunc(ds, compareInStream) {
		slices.SortFunc(ds, compareInStream)
	}
	seen := map[string]bool{} // versions deployed so far in the current stream
	for i := range ds {
		d := &ds[i]
		if i > 0 && (d.Service != ds[i-1].Service || d.Environment != ds[i-1].Environment) {
			clear(seen)
		}
		if d.Kind == "" || d.KindInferred {
			kind := KindDeploy
			if seen[d.Version] {
				kind = KindRollback
			}
			if d.Kind != kind {
				changed = append(changed, i)
			}
			d.Kind, d.KindInferred = kind, true
		}
		seen[d.Version] = true
	}
	return changed
}
