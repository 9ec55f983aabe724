package top

import (
	"fmt"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
)

// Run shows top on the terminal until q; without a terminal on out (or
// in), it prints one frame, with rates over one interval, and returns.
func Run(o Options, in io.Reader, out io.Writer) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = 10
	}
	// Fail before drawing anything when there is nothing to read.
	first, err := Read(o)
	if err != nil {
		return err
	}
	if !isTerminal(in) || !isTerminal(out) {
		return snapshot(o, first, out)
	}
	m := model{o: o, st: TermStyle(), cur: first}
	_, err = tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen()).Run()
	return err
}

func snapshot(o Options, first *Sample, out io.Writer) error {
	time.Sleep(time.Until(first.At.Add(o.Interval)))
	cur, err := Read(o)
	if err != nil {
		return err
	}
	f := Build(first, cur)
	f.Sort(ByRate)
	_, err = fmt.Fprint(out, Render(f, ByRate, o.MaxFlows, 0, Style{}))
	return err
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
