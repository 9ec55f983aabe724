// Command shaper turns a policy file into kernel state: eBPF classifiers on
// the tc hooks and HTB/TBF queues. This package only wires flags to the
// packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shaperdev/shaper/internal/yamldoc"
)

// Exit codes: 0 ok, 1 runtime failure, 2 bad input.
const (
	exitRuntime  = 1
	exitBadInput = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	if err != nil {
		printError(os.Stderr, err)
		if errors.Is(err, os.ErrPermission) && os.Geteuid() != 0 {
			fmt.Fprintln(os.Stderr, "shaper: this needs root (CAP_NET_ADMIN and CAP_BPF): run it with sudo")
		}
		stop()
		os.Exit(exitCode(err))
	}
}

// printError prints err for the user. A list of errors in a file prints as
// it is, as compilers print theirs: every entry starts with its
// file:line:col and quotes the line, and a "shaper: " before the first one
// only would break the column of entries.
func printError(w io.Writer, err error) {
	var list yamldoc.List
	if errors.As(err, &list) && err.Error() == list.Error() {
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "shaper:", err)
}

// exitCode maps an error to the process exit code: errors that say they are
// the user's input (a method BadInput() bool anywhere in the chain) give 2.
func exitCode(err error) int {
	var bad interface{ BadInput() bool }
	if errors.As(err, &bad) && bad.BadInput() {
		return exitBadInput
	}
	var u usageError
	if errors.As(err, &u) {
		return exitBadInput
	}
	return exitRuntime
}

// usageError marks a wrong command line.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "shaper",
		Short:         "Shape and count traffic per app with eBPF and HTB/TBF",
		Long:          "shaper turns a readable policy.yaml into kernel state: eBPF classifiers on the tc hooks tag every flow with an app and a class, HTB/TBF queues shape each class, and BPF maps count bytes and packets per class and app.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands are registered by the files that implement them, so that each
// command lives in its own file.
var subcommands []func() *cobra.Command

func register(f ...func() *cobra.Command) { subcommands = append(subcommands, f...) }
