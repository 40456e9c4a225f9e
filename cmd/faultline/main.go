// Command faultline learns to detect faulty deployments from a deploy history.
//
// Each subcommand is one stage of the pipeline; `faultline run` chains them.
// See `faultline --help`, `faultline help COMMAND` and README.md.
//
// Exit codes:
//
//	0  success (for `check`: the deployment is healthy)
//	1  failure: an error was reported on standard error (for `check`: the deployment is faulty)
//	2  usage error: bad flags or arguments, or an invalid configuration file
//	3  `check` only: inconclusive (too little traffic or data to judge)
//	4  another pipeline run holds the store's run lock
//	5  `check` only: an error; nothing was judged (other commands exit 1)
package main

import (
	"github.com/faultline-dev/faultline/internal/gctune"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
)

// Exit codes; documented in the package comment, in the main help and in
// docs/operations.md.
const (
	exitOK           = 0
	exitFailure      = 1
	exitUsage        = 2
	exitInconclusive = 3
	exitLocked       = 4
	exitCheckError   = 5
)

// command is one subcommand. Each lives in its own file and registers itself
// from an init function, so that subcommands do not share a file.
type command struct {
	name    string // e.g. "import" or "db migrate"
	summary string // one line for the command list
	usage   string // arguments after the name, e.g. "--from DIR"
	help    string // paragraphs shown by `faultline help NAME`
	// flags adds the command's flags to fs; may be nil.
	flags func(fs *flag.FlagSet)
	// run executes the command with its positional arguments.
	run func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("faultline: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks errors that are the caller's: exit code 2.
func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func main() {
	gctune.Apply() // GOGC=400 and GOMEMLIMIT=4GiB unless the environment sets them (internal/gctune)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startCPUProfile(os.Stderr)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// runMain parses global flags, finds the subcommand and runs it. It returns
// the process exit code.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{}
	fs := flag.NewFlagSet("faultline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.addFlags(fs)
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "faultline: %v\n\n", err)
		printMainHelp(stderr)
		return exitUsage
	}
	rest := fs.Args()
	if *help || len(rest) == 0 {
		printMainHelp(stdout)
		if len(rest) == 0 && !*help {
			return exitUsage
		}
		return exitOK
	}
	if rest[0] == "help" {
		if len(rest) == 1 {
			printMainHelp(stdout)
			return exitOK
		}
		c, _ := lookup(rest[1:])
		if c == nil {
			fmt.Fprintf(stderr, "faultline: unknown command %q\n", strings.Join(rest[1:], " "))
			return exitUsage
		}
		printCommandHelp(stdout, c, g)
		return exitOK
	}
	c, cargs := lookup(rest)
	if c == nil {
		if group := groupOf(rest[0]); len(group) > 0 {
			fmt.Fprintf(stderr, "faultline %s: expected a subcommand:\n", rest[0])
			for _, sc := range group {
				fmt.Fprintf(stderr, "  faultline %-20s %s\n", sc.name, sc.summary)
			}
			return exitUsage
		}
		fmt.Fprintf(stderr, "faultline: unknown command %q; see 'faultline --help'\n", rest[0])
		return exitUsage
	}
	cfs := flag.NewFlagSet("faultline "+c.name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	// Global flags are accepted after the command name too; they are parsed
	// into a copy so that values given before the name are not reset.
	cg := *g
	cg.addFlagsWithDefaults(cfs, g)
	if c.flags != nil {
		c.flags(cfs)
	}
	chelp := cfs.Bool("help", false, "")
	cfs.BoolVar(chelp, "h", false, "")
	pos, err := parseInterspersed(cfs, cargs)
	if err != nil {
		fmt.Fprintf(stderr, "faultline %s: %v\n\n", c.name, err)
		printCommandHelp(stderr, c, g)
		return exitUsage
	}
	if *chelp {
		printCommandHelp(stdout, c, g)
		return exitOK
	}
	*g = cg
	e, err := newEnv(g, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "faultline %s: %v\n", c.name, err)
		return exitUsage
	}
	defer e.close()
	err = c.run(ctx, e, pos)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			if ee.code == exitUsage {
				fmt.Fprintf(stderr, "faultline %s: %v\nsee 'faultline help %s'\n", c.name, ee.err, c.name)
			} else {
				fmt.Fprintf(stderr, "faultline %s: %v\n", c.name, ee.err)
			}
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "faultline %s: interrupted\n", c.name)
		return exitFailure
	}
	fmt.Fprintf(stderr, "faultline %s: %v\n", c.name, err)
	e.log.Debug("command failed", slog.String("command", c.name), slog.Any("error", err))
	return exitFailure
}

// parseInterspersed parses a command's arguments with fs and returns the
// positional ones. Flags may come before, between or after them ('runs show
// RUN_ID --json' as well as 'runs show --json RUN_ID'), for every command:
// the flag package stops at the first positional argument, so parsing
// resumes after each one with the same flag set, which keeps the values
// already parsed. After "--" every argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// lookup finds the longest registered command name that prefixes args
// ("db migrate" before "db").
func lookup(args []string) (*command, []string) {
	for n := min(len(args), 3); n >= 1; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

func groupOf(prefix string) []*command {
	var out []*command
	for name, c := range commands {
		if strings.HasPrefix(name, prefix+" ") {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedCommands() []*command {
	out := make([]*command, 0, len(commands))
	for _, c := range commands {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func printMainHelp(w io.Writer) {
	fmt.Fprint(w, `Faultline learns to detect faulty deployments from your deploy history.

Usage:
  faultline [global flags] COMMAND [flags] [arguments]

Flags may also follow the arguments ('faultline runs show RUN_ID --json').

Commands:
`)
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "  %-20s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global flags (accepted before or after the command):
`)
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	(&globals{}).addFlags(fs)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Without --db (or FAULTLINE_DB) the embedded store in --home is used: no server needed.

Environment: FAULTLINE_DB, FAULTLINE_HOME, FAULTLINE_CONFIG (defaults of the flags above);
FAULTLINE_CPUPROFILE=FILE writes a CPU profile of the command (docs/operations.md);
GOGC and GOMEMLIMIT override the command's collector settings (400, 4 GiB).

Exit codes:
  0  success (check: healthy)
  1  failure, or check: faulty
  2  usage error, or invalid configuration (FILE:LINE: key: reason)
  3  check: inconclusive
  4  another pipeline run holds the run lock
  5  check: an error, nothing was judged

Run 'faultline help COMMAND' for a command's flags and details.
`)
}

func printCommandHelp(w io.Writer, c *command, g *globals) {
	fmt.Fprintf(w, "Usage: faultline %s", c.name)
	if c.usage != "" {
		fmt.Fprintf(w, " %s", c.usage)
	}
	fmt.Fprintf(w, "\n\n%s\n", c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	if c.flags != nil {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		c.flags(fs)
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, "\nGlobal flags: --db, --home, --config, --log-format, --verbose (see 'faultline --help').\n")
}

// startCPUProfile writes a CPU profile of the whole command to the file
// named by FAULTLINE_CPUPROFILE, when it is set (docs/operations.md,
// "Profiling a slow stage"). It returns the function that finishes the
// file. A profile that cannot be started is reported and skipped: it never
// changes what the command does.
func startCPUProfile(stderr io.Writer) func() {
	path := os.Getenv("FAULTLINE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "faultline: FAULTLINE_CPUPROFILE: %v (no profile written)\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "faultline: FAULTLINE_CPUPROFILE: %v\n", err)
		}
	}
}
