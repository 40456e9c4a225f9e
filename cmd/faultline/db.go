package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/faultline-dev/faultline/internal/history/pgstore"
	"github.com/faultline-dev/faultline/migrations"
)

// requireDB returns the --db DSN or a usage error saying how to give one.
func (e *env) requireDB(cmd string) (string, error) {
	if e.g.db == "" {
		return "", usageError("%s needs a PostgreSQL database: give --db DSN or set FAULTLINE_DB (the embedded store has no migrations)", cmd)
	}
	return e.g.db, nil
}

func init() {
	var migrateJSON bool
	register(&command{
		name:    "db migrate",
		summary: "apply pending PostgreSQL schema migrations",
		help: `Applies the SQL migrations embedded in this binary that the database (--db
or FAULTLINE_DB) lacks, in order, each in its own transaction, and records
them in schema_migrations. Running it again is a no-op. Several processes may
run it at once: an advisory lock makes them apply each migration once.

Other commands do not migrate: on an unmigrated database they stop and ask
for 'faultline db migrate'. See docs/schema.md for the schema.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&migrateJSON, "json", false, "print the result as JSON: {\"applied\": [...], \"total\": N}")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			dsn, err := e.requireDB("db migrate")
			if err != nil {
				return err
			}
			res, err := pgstore.Migrate(ctx, dsn)
			if err != nil {
				return err
			}
			if migrateJSON {
				return e.writeJSON(res)
			}
			if len(res.Applied) == 0 {
				fmt.Fprintf(e.stdout, "schema up to date (%d migrations applied)\n", res.Total)
				return nil
			}
			for _, name := range res.Applied {
				fmt.Fprintf(e.stdout, "applied %s\n", name)
			}
			fmt.Fprintf(e.stdout, "%d migrations applied; schema up to date (%d migrations)\n", len(res.Applied), res.Total)
			return nil
		},
	})
}

func init() {
	var statusJSON bool
	register(&command{
		name:    "db status",
		summary: "list applied and pending PostgreSQL schema migrations",
		help: `Lists every migration embedded in this binary as applied (with its time) or
pending, plus migrations the database has that this binary does not know
(applied by a newer Faultline). A migration whose file changed since it was
applied is marked modified. Exit status 0 whether or not migrations are
pending; use --json to check in scripts.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&statusJSON, "json", false, "print {\"database\": ..., \"pending\": N, \"migrations\": [...]} as JSON")
		},
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError("unexpected arguments %q", args)
			}
			dsn, err := e.requireDB("db status")
			if err != nil {
				return err
			}
			st, desc, err := pgstore.MigrationStatus(ctx, dsn)
			if err != nil {
				return err
			}
			pending := 0
			for _, s := range st {
				if !s.Applied {
					pending++
				}
			}
			if statusJSON {
				if st == nil {
					st = []migrations.State{}
				}
				return e.writeJSON(struct {
					Database   string             `json:"database"`
					Pending    int                `json:"pending"`
					Migrations []migrations.State `json:"migrations"`
				}{desc, pending, st})
			}
			fmt.Fprintf(e.stdout, "database %s\n\n", desc)
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MIGRATION\tSTATUS\tAPPLIED AT")
			for _, s := range st {
				status, at := "pending", ""
				if s.Applied {
					status, at = "applied", s.AppliedAt.Format("2006-01-02 15:04:05Z")
				}
				if s.Modified {
					status += " (modified since)"
				}
				if s.Unknown {
					status += " (unknown to this binary)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, status, at)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if pending > 0 {
				fmt.Fprintf(e.stdout, "\n%d pending: run 'faultline db migrate'\n", pending)
			} else {
				fmt.Fprintln(e.stdout, "\nschema up to date")
			}
			return nil
		},
	})
}
