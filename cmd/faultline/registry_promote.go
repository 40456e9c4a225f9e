package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/evidence"
)

func init() {
	var (
		promAlias, promReason, promBy, promWorkdir string
		promForce, promJSON                        bool
	)
	register(&command{
		name:    "registry promote",
		usage:   "NAME VERSION --alias ALIAS [--workdir DIR] [--force --reason TEXT] [--json]",
		summary: "move an alias (e.g. production) to a version, through the promotion gate",
		help: `Points ALIAS of model NAME at VERSION (NAME@VERSION is accepted as one
argument) when the promotion gate allows it. For a gated alias
(registry.gated_aliases, default production) the gate judges only on
evidence it computes itself, never on metrics a version carries (those of an
imported bundle are unverified claims): it scores VERSION, the version the
alias holds now and the statistical baseline (the unanimous ensemble of the
statistical checks at the ensemble horizon) on one evaluation set — the
deploys of split evaluate.split (default test) of a run's work folder, with
gold annotations from the history store where present and that folder's weak
labels otherwise — features extracted from the history store with each
version's own settings. The evaluation set is the candidate's run folder by
default (an imported version has none: then the current holder's, else
HOME/work), or --workdir DIR.

VERSION must meet the floors of registry.floors on that set (default: policy
precision at least 0.9 and recall not below the statistical baseline's, when
the baseline meets that precision floor itself) —
also when the alias holds nothing yet — and be at least as good as the
current holder under the rules of registry.gate (default: policy.recall may
drop by at most 0.01, policy.precision by at most 0.02, policy.mttd_min may
not rise). The decision, with each contender's precision and recall and
their Wilson 95% intervals, is printed and recorded; the scores are recorded
on both versions ('faultline registry show').

--force --reason "…" moves the alias despite a refusal, also when no
evidence can be computed; the refusal and the reason are recorded in the
alias history ('faultline registry aliases --history').

Exit status 1 when the gate refuses.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&promAlias, "alias", "", "alias `NAME` to move (e.g. candidate, production); required")
			fs.BoolVar(&promForce, "force", false, "move the alias even when the gate refuses (needs --reason)")
			fs.StringVar(&promReason, "reason", "", "why: recorded in the alias history; required with --force")
			fs.StringVar(&promBy, "by", "", "who promotes (default $FAULTLINE_USER or the login name)")
			fs.StringVar(&promWorkdir, "workdir", "", "work `DIR` whose split.parquet and labels.parquet give the gate's evaluation set (default: the candidate's run folder, else the current holder's, else HOME/work)")
			fs.BoolVar(&promJSON, "json", false, "print the recorded move (with the gate's decision and evidence) as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if promAlias == "" {
				return usageError("--alias is required")
			}
			if promForce && strings.TrimSpace(promReason) == "" {
				return usageError("--force needs --reason")
			}
			name, n, err := parseModelVersion(args)
			if err != nil {
				return err
			}
			by := promBy
			if by == "" {
				by = whoAmI()
			}
			return registryPromote(ctx, e, name, n, promAlias, registry.PromoteOptions{By: by, Reason: promReason, Force: promForce}, promWorkdir, promJSON)
		},
	})
}

// storeEvaluator is the gate's evaluator over the history store of --db
// or --home, opened only when the gate needs evidence (an alias outside
// registry.gated_aliases moves without).
type storeEvaluator struct {
	e       *env
	r       *registry.Registry
	workdir string
}

// Evaluate implements registry.Evaluator.
func (s storeEvaluator) Evaluate(ctx context.Context, cand, cur *registry.Version) (*registry.Evidence, error) {
	store, err := s.e.openStore(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: open the history store: %v", registry.ErrNoEvidence, err)
	}
	cfg := s.e.set.Features
	return evidence.New(evidence.Options{
		History: store, Registry: s.r, Workdir: s.workdir, DefaultWorkdir: s.e.workdir(""),
		Split: s.e.set.Evaluate.Split, BaselineMinutes: s.e.set.Evaluate.BaselineMinutes, Features: &cfg,
		Progress: s.e.progress(), CodeVersion: codeVersion(),
	}).Evaluate(ctx, cand, cur)
}

func registryPromote(ctx context.Context, e *env, name string, version int, alias string, opts registry.PromoteOptions, workdir string, asJSON bool) error {
	r, err := e.openRegistry(ctx)
	if err != nil {
		return err
	}
	opts.Evaluator = storeEvaluator{e: e, r: r, workdir: workdir}
	mv, err := r.Promote(ctx, name, version, alias, opts)
	var ge *registry.GateError
	if errors.As(err, &ge) {
		if asJSON {
			_ = e.writeJSON(struct {
				Promoted bool              `json:"promoted"`
				Decision registry.Decision `json:"decision"`
			}{false, ge.Decision})
		} else {
			printDecision(e, &ge.Decision)
		}
		return &exitError{code: exitFailure, err: err}
	}
	if err != nil {
		return err
	}
	if asJSON {
		return e.writeJSON(mv)
	}
	from := "nothing"
	if mv.From != 0 {
		from = fmt.Sprintf("version %d", mv.From)
	}
	verb := "promoted"
	if mv.Forced {
		verb = "FORCED"
	}
	fmt.Fprintf(e.stdout, "%s: %s@%s now points at version %d (was %s), move #%d\n", verb, name, alias, mv.To, from, mv.Seq)
	if mv.Forced {
		fmt.Fprintf(e.stdout, "reason (recorded): %s\n", mv.Reason)
	}
	printDecision(e, mv.Decision)
	return nil
}
