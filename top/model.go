package top

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// model is the interactive view: it reads every interval, keeps the last
// two readings, and redraws.
type model struct {
	o      Options
	st     Style
	prev   *Sample
	cur    *Sample
	by     SortBy
	width  int
	height int
	err    error
}

type sampleMsg struct {
	s   *Sample
	err error
}

func (m model) readLater() tea.Cmd {
	return tea.Tick(m.o.Interval, func(time.Time) tea.Msg {
		s, err := Read(m.o)
		return sampleMsg{s, err}
	})
}

func (m model) Init() tea.Cmd { return m.readLater() }

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		case "r":
			m.by = ByRate
		case "b":
			m.by = ByBytes
		case "n":
			m.by = ByName
		case "s", "tab":
			m.by = (m.by + 1) % 3
		}
		return m, nil
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case sampleMsg:
		m.err = msg.err
		if msg.err == nil {
			m.prev, m.cur = m.cur, msg.s
		}
		return m, m.readLater()
	}
	return m, nil
}

func (m model) View() string {
	hint := m.st.hint("keys: r rate  b bytes  n name  s next order  q quit")
	if m.err != nil {
		return "shaper top: " + m.err.Error() + "\n" + hint + "\n"
	}
	if m.cur == nil {
		return "reading the counters…\n" + hint + "\n"
	}
	f := Build(m.prev, m.cur)
	f.Sort(m.by)
	return Render(f, m.by, m.flowRows(f), m.width, m.st) + hint + "\n"
}

// flowRows is how many flows fit under the apps and classes.
func (m model) flowRows(f Frame) int {
	n := m.o.MaxFlows
	if m.height > 0 {
		used := 8 + len(f.Classes) + len(f.Apps) + len(f.Tables) + len(f.Drift)
		n = min(n, max(m.height-used, 3))
	}
	return n
}
