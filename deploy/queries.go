package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"sigs.k8s.io/yaml"
)

// Dir is this folder, found from the source file: tests in other packages
// read the files here.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Definition string `json:"definition"`
}

// Panel is a dashboard panel and its queries.
type Panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// Rules is a Prometheus rule file.
type Rules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []Rule `json:"rules"`
	} `json:"groups"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// LoadDashboard reads the shipped dashboard.
func LoadDashboard() (*Dashboard, error) {
	data, err := os.ReadFile(filepath.Join(Dir(), "grafana", "shaper.json"))
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	return &d, nil
}

// LoadRules reads the shipped rule file strictly (unknown fields fail).
func LoadRules() (*Rules, error) {
	data, err := os.ReadFile(filepath.Join(Dir(), "prometheus", "rules.yml"))
	if err != nil {
		return nil, err
	}
	var r Rules
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return nil, fmt.Errorf("decode rules: %w", err)
	}
	return &r, nil
}

// Query is one PromQL expression shipped in deploy/, runnable as it is.
type Query struct {
	Where string // "dashboard panel X", "rule Y", "variable Z"
	Expr  string
}

var (
	labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-z_]+)\)$`)
	threshold   = regexp.MustCompile(`\s*>=?\s*[0-9.]+$`)
)

// Queries are every PromQL expression of the dashboard and the rules, made
// runnable: Grafana's variables are replaced (netns and iface by the
// values given, $__rate_interval and $__range by rangeDur), a variable's
// label_values(m, l) becomes count by (l) (m), and an alert's threshold is
// cut so that what it watches can be checked for data on a healthy system.
func Queries(netns, iface, rangeDur string) ([]Query, error) {
	d, err := LoadDashboard()
	if err != nil {
		return nil, err
	}
	r, err := LoadRules()
	if err != nil {
		return nil, err
	}
	sub := strings.NewReplacer("$netns", netns, "$iface", iface, "$__rate_interval", rangeDur, "$__range", rangeDur)
	var out []Query
	for _, v := range d.Templating.List {
		if m := labelValues.FindStringSubmatch(v.Definition); m != nil {
			out = append(out, Query{"variable " + v.Name, sub.Replace(fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))})
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{"dashboard panel " + p.Title, sub.Replace(t.Expr)})
		}
	}
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Record != "" {
				out = append(out, Query{"rule " + rule.Record, rule.Expr}, Query{"recorded " + rule.Record, rule.Record})
				continue
			}
			out = append(out, Query{"alert " + rule.Alert + " (without its threshold)", threshold.ReplaceAllString(rule.Expr, "")})
		}
	}
	return out, nil
}
