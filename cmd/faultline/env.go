package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/faultline-dev/faultline/internal/config"
	"github.com/faultline-dev/faultline/internal/history"
	"github.com/faultline-dev/faultline/internal/progress"
	"github.com/faultline-dev/faultline/internal/stores"
)

// globals are the flags every command accepts.
type globals struct {
	db        string
	home      string
	config    string
	logFormat string
	verbose   bool
}

func (g *globals) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&g.db, "db", os.Getenv("FAULTLINE_DB"), "PostgreSQL `DSN` of the history store (default $FAULTLINE_DB; empty: embedded store in --home)")
	fs.StringVar(&g.home, "home", envOr("FAULTLINE_HOME", "./faultline-data"), "`DIR` of the embedded store and of run outputs ($FAULTLINE_HOME overrides the default)")
	fs.StringVar(&g.config, "config", os.Getenv("FAULTLINE_CONFIG"), "pipeline settings `FILE` (YAML; see docs/configuration.md)")
	fs.StringVar(&g.logFormat, "log-format", "auto", "logs on stderr: `auto` (text on a terminal, JSON otherwise), text or json")
	fs.BoolVar(&g.verbose, "verbose", false, "debug logging")
}

// addFlagsWithDefaults registers the global flags on fs with the values
// already in cur as defaults.
func (g *globals) addFlagsWithDefaults(fs *flag.FlagSet, cur *globals) {
	g.addFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "db":
			g.db = cur.db
		case "home":
			g.home = cur.home
		case "config":
			g.config = cur.config
		case "log-format":
			g.logFormat = cur.logFormat
		case "verbose":
			g.verbose = cur.verbose
		}
	})
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// env is what a running command gets: output streams, logger, configuration
// and the stores of --db or --home, opened on first use.
type env struct {
	g        *globals
	stdout   io.Writer
	stderr   io.Writer
	log      *slog.Logger
	cfg      *config.File
	set      *settings // every section of cfg, checked as a whole
	terminal bool      // stderr is a terminal: show progress bars

	// stores is the one place that opens the history store, the registry
	// and the run records, sharing one pool per process with --db.
	stores *stores.Stores
}

func newEnv(g *globals, stdout, stderr io.Writer) (*env, error) {
	e := &env{g: g, stdout: stdout, stderr: stderr, stores: stores.New(g.db, g.home)}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		e.terminal = true
	}
	level := slog.LevelInfo
	if g.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "json":
		e.log = slog.New(slog.NewJSONHandler(stderr, opts))
	case "text":
		e.log = slog.New(slog.NewTextHandler(stderr, opts))
	case "auto", "":
		if e.terminal {
			e.log = slog.New(slog.NewTextHandler(stderr, opts))
		} else {
			e.log = slog.New(slog.NewJSONHandler(stderr, opts))
		}
	default:
		return nil, fmt.Errorf("--log-format must be auto, text or json, not %q", g.logFormat)
	}
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, err
	}
	set, err := loadSettings(cfg)
	if err != nil {
		return nil, err
	}
	e.cfg, e.set = cfg, set
	return e, nil
}

// openStore returns the history store selected by --db / --home, opened
// once per process.
func (e *env) openStore(ctx context.Context) (history.Store, error) {
	return e.stores.History(ctx)
}

func (e *env) close() {
	if err := e.stores.Close(); err != nil {
		e.log.Warn("close stores", slog.Any("error", err))
	}
}

// progress returns a progress.Func: a redrawn line on a terminal, a log line
// every few seconds otherwise.
func (e *env) progress() progress.Func {
	var (
		mu        sync.Mutex
		last      time.Time
		lastStage string
		start     = time.Now()
	)
	interval := 5 * time.Second
	if e.terminal {
		interval = 100 * time.Millisecond
	}
	return func(stage string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		finished := total > 0 && done >= total
		if stage != lastStage {
			if e.terminal && lastStage != "" {
				fmt.Fprintln(e.stderr)
			}
			lastStage, start = stage, now
		} else if !finished && now.Sub(last) < interval {
			return
		}
		last = now
		el := now.Sub(start).Round(100 * time.Millisecond)
		if e.terminal {
			if total > 0 {
				pct := float64(done) / float64(total) * 100
				fmt.Fprintf(e.stderr, "\r\033[K%s: %d/%d (%.0f%%) %s", stage, done, total, pct, el)
			} else {
				fmt.Fprintf(e.stderr, "\r\033[K%s: %d %s", stage, done, el)
			}
			if finished {
				fmt.Fprintln(e.stderr)
				lastStage = ""
			}
			return
		}
		e.log.Info("progress", slog.String("stage", stage), slog.Int64("done", done), slog.Int64("total", total), slog.Duration("elapsed", el))
	}
}

// workdir resolves a --workdir flag value: the default is HOME/work.
func (e *env) workdir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return filepath.Join(e.g.home, "work")
}

// writeJSON writes v to stdout as indented JSON.
func (e *env) writeJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
