package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	_ "modernc.org/sqlite"
)

// TSDB: a Prometheus server's options for a 35-day retention (max block
// 10% of it: 2 h, 6 h, 18 h, 54 h blocks); one commit per sample.
func tsdbOpen(dir string) (*tsdb.DB, error) {
	o := tsdb.DefaultOptions()
	o.RetentionDuration = int64(35 * day / time.Millisecond)
	o.MaxBlockDuration = o.RetentionDuration / 10
	return tsdb.Open(dir, nop, nil, o, nil)
}

var nop, bg = slog.New(slog.DiscardHandler), context.Background()

func tsdbIngest(dir string, days int) error {
	db, err := tsdbOpen(dir)
	if err != nil {
		return err
	}
	var lbs []labels.Labels // bytes, packets of each series
	for _, s := range allSeries() {
		for _, m := range []string{"bytes", "packets"} {
			lbs = append(lbs, labels.FromStrings("__name__", "shaper_"+s.kind+"_"+m+"_total", s.kind, s.name, "iface", s.iface, "direction", s.dir))
		}
	}
	refs, n := make([]storage.SeriesRef, len(lbs)), 0
	err = generate(days, func(at time.Time, rs []series) error {
		app := db.Appender(bg)
		for i, s := range rs {
			for j, v := range []uint64{s.bytes, s.packets} {
				if refs[2*i+j], err = app.Append(refs[2*i+j], lbs[2*i+j], at.UnixMilli(), float64(v)); err != nil {
					return err
				}
			}
		}
		if n++; n%720 != 0 { // every 2 h of samples: cut and compact blocks
			return app.Commit()
		}
		return errors.Join(app.Commit(), db.Compact(bg))
	})
	if err == nil {
		err = db.Compact(bg)
	}
	return errors.Join(err, db.Close())
}

const qSum, qRange = `sum by (app, iface, direction) (increase(shaper_app_bytes_total[%dd]))`,
	`sum by (app, iface, direction) (increase(shaper_app_bytes_total[1h]))`

func promQuery(ng *promql.Engine, q storage.Queryable, days int, instant bool) (int, error) {
	qry, err := ng.NewRangeQuery(bg, q, nil, qRange, end.Add(-time.Duration(days)*day+time.Hour), end, time.Hour)
	if instant {
		qry, err = ng.NewInstantQuery(bg, q, nil, fmt.Sprintf(qSum, days), end)
	}
	if err != nil {
		return 0, err
	}
	defer qry.Close()
	res := qry.Exec(bg)
	if v, err := res.Vector(); instant || res.Err != nil {
		return len(v), errors.Join(res.Err, err)
	}
	m, err := res.Matrix()
	return m.TotalSamples(), err
}

func tsdbQueries(dir string, days int) ([]query, func() error) {
	ng := promql.NewEngine(promql.EngineOpts{Logger: nop, MaxSamples: 1 << 30, Timeout: time.Hour, LookbackDelta: 5 * time.Minute})
	// The report in its own process: a read-only DB (loads the blocks,
	// replays the head's WAL) for each query, as it has one querier.
	report := func() (int, error) {
		n := 0
		for _, instant := range []bool{true, false} {
			ro, err := tsdb.OpenDBReadOnly(dir, "", nop)
			if err != nil {
				return 0, err
			}
			k, err := promQuery(ng, ro, days, instant)
			if ro.Close(); err != nil {
				return 0, err
			}
			n += k
		}
		return n, nil
	}
	db, err := tsdbOpen(dir) // for the other queries, as serve would
	if err != nil {
		fail(err)
	}
	return []query{
		{fmt.Sprintf("report %dd: open read-only + sum + range 1h", days), report},
		{"sum 1 day (instant increase[1d])", func() (int, error) { return promQuery(ng, db, 1, true) }},
		{fmt.Sprintf("sum %d days (instant increase[%dd])", days, days), func() (int, error) { return promQuery(ng, db, days, true) }},
		{fmt.Sprintf("range %d days, step 1h", days), func() (int, error) { return promQuery(ng, db, days, false) }},
	}, func() error { return db.Close() }
}

// SQLite: tables raw, r5m, r1h of (t, key, bytes, packets) non-zero deltas,
// clustered on (t, key); roll-ups written as their buckets close; raw rows
// older than 2 days (our default) deleted hourly; one transaction a sample.
func sqliteOpen(dir string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "history.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err == nil {
		db.SetMaxOpenConns(1)
		err = db.Ping()
	}
	return db, err
}

func sqliteIngest(dir string, days int) error {
	db, err := sqliteOpen(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	ddl, steps := `CREATE TABLE keys (id INTEGER PRIMARY KEY, kind TEXT, name TEXT, iface TEXT, direction TEXT);`, []int64{0, 300, 3600}
	for _, t := range []string{"raw", "r5m", "r1h"} {
		ddl += fmt.Sprintf(`CREATE TABLE %s (t INTEGER NOT NULL, key INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL, PRIMARY KEY (t, key)) WITHOUT ROWID;`, t)
	}
	if _, err := db.Exec(ddl); err != nil {
		return err
	}
	for i, s := range allSeries() {
		db.Exec(`INSERT INTO keys VALUES (?, ?, ?, ?, ?)`, i, s.kind, s.name, s.iface, s.dir)
	}
	var ins [4]*sql.Stmt
	for i, q := range []string{"INSERT INTO raw", "INSERT INTO r5m", "INSERT INTO r1h", "DELETE FROM raw WHERE t < ?"} {
		if ins[i], err = db.Prepare(q + map[bool]string{true: " VALUES (?, ?, ?, ?)"}[i < 3]); err != nil {
			return err
		}
	}
	nk := len(allSeries()) // roll-ups being summed: [tier][key] bytes, packets
	acc, bucket := [3][][2]int64{nil, make([][2]int64, nk), make([][2]int64, nk)}, [3]int64{0, -1, -1}
	// record writes a sample in one transaction (rs nil: only the last buckets).
	record := func(t int64, rs []series) error {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		exec := func(k int, args ...any) {
			if err == nil {
				_, err = tx.Stmt(ins[k]).Exec(args...)
			}
		}
		for k := 1; k < 3; k++ {
			if b := t - t%steps[k]; b != bucket[k] { // the bucket closed: write its roll-up
				for id, v := range acc[k] {
					if v != [2]int64{} && bucket[k] >= 0 {
						exec(k, bucket[k], id, v[0], v[1])
					}
					acc[k][id] = [2]int64{}
				}
				bucket[k] = b
			}
		}
		for id, s := range rs {
			if s.dBytes != 0 || s.dPackets != 0 {
				exec(0, t, id, int64(s.dBytes), int64(s.dPackets))
				for k := 1; k < 3; k++ {
					acc[k][id][0], acc[k][id][1] = acc[k][id][0]+int64(s.dBytes), acc[k][id][1]+int64(s.dPackets)
				}
			}
		}
		if t%3600 == 0 && rs != nil {
			exec(3, t-2*86400) // raw retention
		}
		return errors.Join(err, tx.Commit())
	}
	err = generate(days, func(at time.Time, rs []series) error { return record(at.Unix(), rs) })
	if err != nil || record(end.Unix(), nil) != nil {
		return fmt.Errorf("write: %v", err)
	}
	rows, err := db.Query(`SELECT name, SUM(pgsize) / 1048576.0 FROM dbstat GROUP BY name ORDER BY name`)
	for err == nil && rows.Next() {
		var name, size string
		rows.Scan(&name, &size)
		fmt.Printf("  table %-14s %.6s MiB\n", name, size)
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func scanAll(rows *sql.Rows, err error) (n int, _ error) {
	for ; err == nil && rows.Next(); n++ {
		var a, b, c, d int64
		err = rows.Scan(&a, &b, &c, &d)
	}
	if err == nil {
		err = rows.Err()
		rows.Close()
	}
	return n, err
}

const sqlSum, sqlRange = `SELECT key, SUM(bytes), SUM(packets), COUNT(*) FROM %s WHERE t >= ? AND t < ? GROUP BY key`,
	`SELECT t, key, bytes, packets FROM r1h WHERE t >= ? AND t < ? AND key IN (SELECT id FROM keys WHERE kind = 'app') ORDER BY key, t`

func sqliteQueries(dir string, days int) ([]query, func() error) {
	e, from := end.Unix(), end.Add(-time.Duration(days)*day).Unix()
	db, _ := sqliteOpen(dir) // an error shows in the queries
	sum := func(table string, from int64) func() (int, error) {
		return func() (int, error) { return scanAll(db.Query(fmt.Sprintf(sqlSum, table), from, e)) }
	}
	report := func() (int, error) {
		db, err := sqliteOpen(dir)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		n, err := scanAll(db.Query(fmt.Sprintf(sqlSum, "r1h"), from, e))
		k, err2 := scanAll(db.Query(sqlRange, from, e))
		return n + k, errors.Join(err, err2)
	}
	return []query{
		{fmt.Sprintf("report %dd: open + sum (1h tier) + range 1h", days), report},
		{"sum 1 day from raw (all series)", sum("raw", e-86400)},
		{"sum 1 day from 5m (all series)", sum("r5m", e-86400)},
		{fmt.Sprintf("sum %d days from 1h (all series)", days), sum("r1h", from)},
		{fmt.Sprintf("range %d days, step 1h (apps)", days), func() (int, error) { return scanAll(db.Query(sqlRange, from, e)) }},
	}, func() error { return db.Close() }
}
