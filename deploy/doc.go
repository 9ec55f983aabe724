// Package deploy holds the files that run shaper serve in production: the
// Grafana dashboard, Prometheus rules and scrape configs, a systemd unit
// and Kubernetes manifests. It has no code; its tests check every file
// (deploy_test.go) and give the dashboard's and rules' queries to the
// integration test that runs them against a real Prometheus (Queries).
package deploy
